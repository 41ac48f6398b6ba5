variable "name" {
  description = "Bucket name prefix (globally unique), e.g. cleangate-prod-example: buckets <name>-media, <name>-checkpoints, <name>-logs."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,48}[a-z0-9]$", var.name))
    error_message = "name: 4-50 characters of lower-case letters, digits and '-' (S3 bucket rules; the longest suffix is -checkpoints)."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the media and checkpoint buckets (the logs bucket uses SSE-S3: ALB log delivery requires it)."
  type        = string
}

variable "ia_transition_days" {
  description = "Days after which tagged media and checkpoints move to STANDARD_IA."
  type        = number
  default     = 30

  validation {
    condition     = var.ia_transition_days >= 30
    error_message = "ia_transition_days must be at least 30 (the STANDARD_IA minimum)."
  }
}

variable "image_retention_days" {
  description = "Days passage photos (tag retention=passage-image) are kept; HJ 1321 asks for at least 24 months."
  type        = number
  default     = 800

  validation {
    condition     = var.image_retention_days >= 730
    error_message = "image_retention_days must be at least 730 (24 months of passage photos)."
  }
}

variable "registry_retention_days" {
  description = "Days registry attachments (tag retention=registry-document) are kept; at least 5 years."
  type        = number
  default     = 1900

  validation {
    condition     = var.registry_retention_days >= 1826
    error_message = "registry_retention_days must be at least 1826 (5 years of registry documents)."
  }
}

variable "video_retention_days" {
  description = "Days gate videos (tag retention=video) are kept; at least 12 months."
  type        = number
  default     = 400

  validation {
    condition     = var.video_retention_days >= 366
    error_message = "video_retention_days must be at least 366 (12 months of video)."
  }
}

variable "export_retention_days" {
  description = "Days generated exports (tag retention=export) are kept."
  type        = number
  default     = 30

  validation {
    condition     = var.export_retention_days >= 1
    error_message = "export_retention_days must be at least 1."
  }
}

variable "checkpoint_lock_days" {
  description = "Object Lock (COMPLIANCE) default retention of signed ledger checkpoints, in days; at least 5 years."
  type        = number
  default     = 1900

  validation {
    condition     = var.checkpoint_lock_days >= 1826
    error_message = "checkpoint_lock_days must be at least 1826 (5 years); COMPLIANCE mode cannot be shortened later."
  }
}

variable "log_retention_days" {
  description = "Days ALB and S3 access logs are kept in the logs bucket."
  type        = number
  default     = 400

  validation {
    condition     = var.log_retention_days >= 90
    error_message = "log_retention_days must be at least 90."
  }
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept before it expires (media and logs)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty media and logs buckets (never for production; checkpoints stay locked anyway)."
  type        = bool
  default     = false
}
