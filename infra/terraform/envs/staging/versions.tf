terraform {
  required_version = ">= 1.6, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 5.100.0"
    }
  }

  # Partial configuration: the state location is given at init time, e.g.
  #   terraform init \
  #     -backend-config="bucket=<state bucket>" \
  #     -backend-config="key=cleangate/staging/terraform.tfstate" \
  #     -backend-config="region=<region>" \
  #     -backend-config="encrypt=true" \
  #     -backend-config="kms_key_id=<KMS key ARN or alias of the state bucket>" \
  #     -backend-config="use_lockfile=true"
  # (Terraform >= 1.10 locks with use_lockfile; older versions use -backend-config="dynamodb_table=<lock table>".)
  # The state holds the generated secrets: keep the state bucket private, versioned and encrypted.
  backend "s3" {}
}
