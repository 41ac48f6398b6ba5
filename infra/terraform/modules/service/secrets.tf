# Application secrets drawn once (ignore_changes): a new value would sign ledgers with a new key
# and lock out stored regulator credentials. Rotation is a deliberate, documented operation.
locals {
  generated_secrets = {
    SECRET_KEY            = "Flask SECRET_KEY (sessions, CSRF)"
    LEDGER_SIGNING_KEY    = "Ed25519 seed signing ledger checkpoints (base64 of 32 bytes)"
    REGULATOR_MASTER_KEYS = "Envelope keyring of stored regulator credentials (k1:<base64 of 32 bytes>)"
  }
}

data "aws_secretsmanager_random_password" "generated" {
  for_each = local.generated_secrets

  password_length     = 64
  exclude_punctuation = each.key == "SECRET_KEY"
}

resource "aws_secretsmanager_secret" "generated" {
  for_each = local.generated_secrets

  name                    = "${var.name}/${each.key}"
  description             = each.value
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}

locals {
  random_for = { for k, d in data.aws_secretsmanager_random_password.generated : k => d.random_password }
  # base64sha256 turns 64 random characters into exactly 32 uniformly distributed bytes, base64.
  generated_values = {
    SECRET_KEY            = local.random_for["SECRET_KEY"]
    LEDGER_SIGNING_KEY    = base64sha256(local.random_for["LEDGER_SIGNING_KEY"])
    REGULATOR_MASTER_KEYS = "k1:${base64sha256(local.random_for["REGULATOR_MASTER_KEYS"])}"
  }
}

resource "aws_secretsmanager_secret_version" "generated" {
  for_each = local.generated_secrets

  secret_id     = aws_secretsmanager_secret.generated[each.key].id
  secret_string = sensitive(local.generated_values[each.key])

  lifecycle {
    ignore_changes = [secret_string]
  }
}
