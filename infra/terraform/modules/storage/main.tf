# Three buckets: media (tag-driven retention), checkpoints (Object Lock, COMPLIANCE), logs (ALB
# and S3 access logs). Every bucket gets encryption, versioning, lifecycle, public access block,
# owner-enforced ownership and a TLS-only policy; the app buckets log access into the logs bucket.
data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_elb_service_account" "current" {}

data "aws_service_principal" "s3_logging" {
  service_name = "logging.s3"
}

locals {
  abort_multipart_days = 7
}

# --- buckets -------------------------------------------------------------------------------------

resource "aws_s3_bucket" "media" {
  bucket        = "${var.name}-media"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket" "checkpoints" {
  bucket              = "${var.name}-checkpoints"
  object_lock_enabled = true
}

resource "aws_s3_bucket" "logs" {
  bucket        = "${var.name}-logs"
  force_destroy = var.force_destroy
}

# --- ownership and public access -----------------------------------------------------------------

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_ownership_controls" "checkpoints" {
  bucket = aws_s3_bucket.checkpoints.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "checkpoints" {
  bucket                  = aws_s3_bucket.checkpoints.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# --- encryption ------------------------------------------------------------------------------------

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "checkpoints" {
  bucket = aws_s3_bucket.checkpoints.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

# SSE-S3: ALB access-log delivery does not support KMS-encrypted buckets.
resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# --- versioning ------------------------------------------------------------------------------------

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_versioning" "checkpoints" {
  bucket = aws_s3_bucket.checkpoints.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

# --- object lock -----------------------------------------------------------------------------------

# COMPLIANCE: nobody, root included, can delete or shorten a checkpoint before the period ends.
resource "aws_s3_bucket_object_lock_configuration" "checkpoints" {
  bucket = aws_s3_bucket.checkpoints.id

  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.checkpoint_lock_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.checkpoints]
}

# --- lifecycle -------------------------------------------------------------------------------------

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    id     = "passage-image"
    status = "Enabled"

    filter {
      tag {
        key   = "retention"
        value = "passage-image"
      }
    }

    transition {
      days          = var.ia_transition_days
      storage_class = "STANDARD_IA"
    }

    expiration {
      days = var.image_retention_days
    }
  }

  rule {
    id     = "registry-document"
    status = "Enabled"

    filter {
      tag {
        key   = "retention"
        value = "registry-document"
      }
    }

    transition {
      days          = var.ia_transition_days
      storage_class = "STANDARD_IA"
    }

    expiration {
      days = var.registry_retention_days
    }
  }

  rule {
    id     = "video"
    status = "Enabled"

    filter {
      tag {
        key   = "retention"
        value = "video"
      }
    }

    transition {
      days          = var.ia_transition_days
      storage_class = "STANDARD_IA"
    }

    expiration {
      days = var.video_retention_days
    }
  }

  rule {
    id     = "export"
    status = "Enabled"

    filter {
      tag {
        key   = "retention"
        value = "export"
      }
    }

    expiration {
      days = var.export_retention_days
    }
  }

  # Tag filters cannot carry the multipart action, hence a separate whole-bucket rule.
  rule {
    id     = "housekeeping"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = local.abort_multipart_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.media]
}

resource "aws_s3_bucket_lifecycle_configuration" "checkpoints" {
  bucket = aws_s3_bucket.checkpoints.id

  # Checkpoints are tiny and never expire; they only move to the cheaper class.
  rule {
    id     = "checkpoint"
    status = "Enabled"

    filter {
      tag {
        key   = "retention"
        value = "checkpoint"
      }
    }

    transition {
      days          = var.ia_transition_days
      storage_class = "STANDARD_IA"
    }
  }

  # A replaced version stays locked for the full period anyway; expire it once the lock allows.
  rule {
    id     = "housekeeping"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = local.abort_multipart_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.checkpoint_lock_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.checkpoints]
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = local.abort_multipart_days
    }

    expiration {
      days = var.log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

# --- access logging (into the logs bucket; the logs bucket itself is not logged) ------------------

resource "aws_s3_bucket_logging" "media" {
  bucket        = aws_s3_bucket.media.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${aws_s3_bucket.media.id}/"

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_s3_bucket_logging" "checkpoints" {
  bucket        = aws_s3_bucket.checkpoints.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${aws_s3_bucket.checkpoints.id}/"

  depends_on = [aws_s3_bucket_policy.logs]
}

# --- bucket policies -------------------------------------------------------------------------------

locals {
  deny_insecure = {
    for key, bucket in {
      media       = aws_s3_bucket.media
      checkpoints = aws_s3_bucket.checkpoints
      logs        = aws_s3_bucket.logs
      } : key => {
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [bucket.arn, "${bucket.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket = aws_s3_bucket.media.id

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.deny_insecure.media]
  })

  depends_on = [aws_s3_bucket_public_access_block.media]
}

resource "aws_s3_bucket_policy" "checkpoints" {
  bucket = aws_s3_bucket.checkpoints.id

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.deny_insecure.checkpoints]
  })

  depends_on = [aws_s3_bucket_public_access_block.checkpoints]
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      local.deny_insecure.logs,
      {
        # The regional ELB account delivers ALB access logs (also in the China regions).
        Sid       = "AlbAccessLogs"
        Effect    = "Allow"
        Principal = { AWS = data.aws_elb_service_account.current.arn }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.logs.arn}/alb/AWSLogs/${data.aws_caller_identity.current.account_id}/*"
      },
      {
        Sid       = "S3ServerAccessLogs"
        Effect    = "Allow"
        Principal = { Service = data.aws_service_principal.s3_logging.name }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.logs.arn}/s3/*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
          ArnLike      = { "aws:SourceArn" = [aws_s3_bucket.media.arn, aws_s3_bucket.checkpoints.arn] }
        }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.logs]
}
