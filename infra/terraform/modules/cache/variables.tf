variable "name" {
  description = "Name prefix of every resource, e.g. cleangate-production (also the replication group id)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,35}$", var.name))
    error_message = "name: 3-36 characters (replication group ids are at most 40 with the node suffix), lower-case letters, digits and '-'."
  }
}

variable "vpc_id" {
  description = "VPC holding the cache."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two zones) of the cache subnet group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids: give the private subnets of both zones."
  }
}

variable "client_security_group_id" {
  description = "Security group of the ECS tasks: the only source allowed on 6379."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for at-rest encryption and the REDIS_URL / auth-token secrets."
  type        = string
}

variable "engine_version" {
  description = "Redis OSS engine version (7.x)."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^7\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be a Redis 7 version such as 7.1 (the parameter group family is redis7)."
  }
}

variable "node_type" {
  description = "Cache node type, e.g. cache.t4g.small (staging) or cache.m6g.large (production)."
  type        = string
  default     = "cache.m6g.large"

  validation {
    condition     = startswith(var.node_type, "cache.")
    error_message = "node_type must be an ElastiCache node type such as cache.m6g.large."
  }
}

variable "node_count" {
  description = "Nodes in the replication group: 1 (staging) or 2+ (primary and replicas; enables automatic failover and Multi-AZ)."
  type        = number
  default     = 2

  validation {
    condition     = var.node_count >= 1 && var.node_count <= 6 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 1 to 6."
  }
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots kept (the queue and leases live in Redis; the truth is in PostgreSQL)."
  type        = number
  default     = 7

  validation {
    condition     = var.snapshot_retention_days >= 1 && var.snapshot_retention_days <= 35
    error_message = "snapshot_retention_days must be between 1 and 35."
  }
}

variable "snapshot_window" {
  description = "Daily snapshot window (UTC)."
  type        = string
  default     = "17:00-18:00"
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC), not overlapping the snapshot window."
  type        = string
  default     = "sun:20:30-sun:21:30"
}

variable "apply_immediately" {
  description = "Apply modifications now rather than in the maintenance window."
  type        = bool
  default     = false
}
