# Two execution roles so the long-running services cannot read the database master or owner
# secrets: `app` (web, hub, worker, scheduler) and `migrate`. One task role for S3.
locals {
  app_secret_arns = concat(
    [
      var.database_url_secret_arn,
      var.redis_url_secret_arn,
      aws_secretsmanager_secret.generated["SECRET_KEY"].arn,
      aws_secretsmanager_secret.generated["LEDGER_SIGNING_KEY"].arn,
      aws_secretsmanager_secret.generated["REGULATOR_MASTER_KEYS"].arn,
    ],
    # The secret itself, without a :json-key:stage:version suffix.
    [for arn in values(var.extra_secret_arns) : join(":", slice(split(":", arn), 0, 7))],
  )
  migrate_secret_arns = concat(local.app_secret_arns, [
    var.migration_database_url_secret_arn,
    var.db_master_secret_arn,
  ])
  execution_roles = {
    app = {
      secrets    = local.app_secret_arns
      log_groups = [for r in local.services : aws_cloudwatch_log_group.role[r].arn]
    }
    migrate = {
      secrets    = local.migrate_secret_arns
      log_groups = [aws_cloudwatch_log_group.role["migrate"].arn]
    }
  }
}

resource "aws_iam_role" "execution" {
  for_each = local.execution_roles

  name = "${var.name}-${each.key}-execution"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = data.aws_service_principal.ecs_tasks.name }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account }
      }
    }]
  })
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.execution_roles

  name = "pull-log-secrets"
  role = aws_iam_role.execution[each.key].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "EcrToken"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
      {
        Sid    = "PullImage"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
        ]
        Resource = aws_ecr_repository.this.arn
      },
      {
        Sid      = "WriteLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [for arn in each.value.log_groups : "${arn}:*"]
      },
      {
        Sid      = "ReadSecrets"
        Effect   = "Allow"
        Action   = "secretsmanager:GetSecretValue"
        Resource = distinct(each.value.secrets)
      },
      {
        Sid      = "DecryptSecretsAndImage"
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = var.kms_key_arn
      },
    ]
  })
}

resource "aws_iam_role" "task" {
  name = "${var.name}-task"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = data.aws_service_principal.ecs_tasks.name }
      Action    = "sts:AssumeRole"
      Condition = {
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ecs:${local.region}:${local.account}:*" }
        StringEquals = { "aws:SourceAccount" = local.account }
      }
    }]
  })
}

resource "aws_iam_role_policy" "task" {
  name = "app-buckets"
  role = aws_iam_role.task.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListAppBuckets"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
        Resource = [var.media_bucket_arn, var.checkpoint_bucket_arn]
      },
      {
        Sid    = "MediaObjects"
        Effect = "Allow"
        Action = [
          "s3:GetObject",
          "s3:PutObject",
          "s3:DeleteObject",
          "s3:GetObjectTagging",
          "s3:PutObjectTagging",
          "s3:AbortMultipartUpload",
          "s3:ListMultipartUploadParts",
        ]
        Resource = "${var.media_bucket_arn}/*"
      },
      {
        # No delete: checkpoints are write-once (Object Lock refuses it anyway).
        Sid    = "CheckpointObjects"
        Effect = "Allow"
        Action = [
          "s3:GetObject",
          "s3:PutObject",
          "s3:GetObjectTagging",
          "s3:PutObjectTagging",
          "s3:GetObjectRetention",
          "s3:AbortMultipartUpload",
          "s3:ListMultipartUploadParts",
        ]
        Resource = "${var.checkpoint_bucket_arn}/*"
      },
      {
        Sid      = "BucketEncryption"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = var.kms_key_arn
      },
    ]
  })
}
