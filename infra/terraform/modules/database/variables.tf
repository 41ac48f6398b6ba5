variable "name" {
  description = "Name prefix of every resource, e.g. cleangate-production (also the DB instance identifier)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,50}$", var.name))
    error_message = "name: 3-51 characters, lower-case letters, digits and '-', starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC holding the database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two zones) of the DB subnet group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids: RDS needs subnets in at least two availability zones."
  }
}

variable "client_security_group_id" {
  description = "Security group of the ECS tasks: the only source allowed on 5432."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights, the master secret, log exports and URL secrets."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL version; a major version (\"16\") lets RDS apply minor upgrades."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^16(\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be PostgreSQL 16 (\"16\" or \"16.x\"): the parameter group family is postgres16."
  }
}

variable "instance_class" {
  description = "RDS instance class, e.g. db.t4g.medium (staging) or db.m6g.large (production)."
  type        = string
  default     = "db.m6g.large"

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS class such as db.m6g.large."
  }
}

variable "allocated_storage" {
  description = "Initial storage in GiB (gp3)."
  type        = number
  default     = 50

  validation {
    condition     = var.allocated_storage >= 20
    error_message = "allocated_storage must be at least 20 GiB."
  }
}

variable "max_allocated_storage" {
  description = "Upper bound in GiB for storage autoscaling (must exceed allocated_storage)."
  type        = number
  default     = 500
}

variable "multi_az" {
  description = "Standby replica in the second zone (true in production)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery (7 staging, 35 production)."
  type        = number
  default     = 35

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 7 and 35."
  }
}

variable "deletion_protection" {
  description = "Refuse deletion of the instance (true in production)."
  type        = bool
  default     = true
}

variable "monitoring_interval" {
  description = "Enhanced monitoring interval in seconds."
  type        = number
  default     = 60

  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 1, 5, 10, 15, 30, 60."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the exported PostgreSQL logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (e.g. 365, 400, 731)."
  }
}

variable "slow_statement_ms" {
  description = "Statements slower than this many milliseconds are logged (log_min_duration_statement)."
  type        = number
  default     = 500

  validation {
    condition     = var.slow_statement_ms >= 0
    error_message = "slow_statement_ms must be 0 or more."
  }
}

variable "apply_immediately" {
  description = "Apply modifications now rather than in the maintenance window."
  type        = bool
  default     = false
}

variable "backup_window" {
  description = "Daily backup window (UTC), e.g. 18:00-19:00 = 02:00-03:00 Beijing time."
  type        = string
  default     = "18:00-19:00"
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC), not overlapping the backup window."
  type        = string
  default     = "sun:19:30-sun:20:30"
}
