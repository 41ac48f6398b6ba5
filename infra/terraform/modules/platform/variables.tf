variable "availability_zones" {
  description = "Two availability zones of the region, e.g. [\"cn-northwest-1a\", \"cn-northwest-1b\"]."
  type        = list(string)
}

variable "name" {
  description = "Name prefix of the environment's resources (ECS cluster, RDS, Redis, ALB, log groups)."
  type        = string
}

variable "bucket_prefix" {
  description = "Globally unique S3 name prefix: buckets <prefix>-media, <prefix>-checkpoints, <prefix>-logs."
  type        = string
}

variable "app_domain" {
  description = "Host name of the portal, console, boards and APIs."
  type        = string
}

variable "hub_domain" {
  description = "Host name of the websocket hub for edge bridges and board feeds."
  type        = string
}

variable "certificate_arn" {
  description = "HTTPS certificate covering app_domain and hub_domain: ACM, or an IAM server certificate in the China regions."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone to create alias records for app_domain and hub_domain in; empty when DNS is elsewhere."
  type        = string
}

variable "waf_web_acl_arn" {
  description = "Regional WAFv2 web ACL to attach to the ALB; empty for none."
  type        = string
}

variable "ingress_cidrs" {
  description = "IPv4 ranges allowed to reach the ALB on 443 and 80."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "IPv4 range of the VPC (/16)."
  type        = string
}

variable "image_tag" {
  description = "Image tag (immutable, e.g. the git commit) in this environment's ECR repository; output ecr_repository_url."
  type        = string
}

variable "image" {
  description = "Full image reference overriding ECR + image_tag (e.g. a mirror registry); empty to use image_tag."
  type        = string
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64 or ARM64."
  type        = string
}

variable "task_sizes" {
  description = "Fargate cpu units and memory MiB per role (web, hub, worker, scheduler, migrate)."
  type = map(object({
    cpu    = number
    memory = number
  }))
}

variable "web_min_count" {
  description = "Least number of web tasks."
  type        = number
}

variable "web_max_count" {
  description = "Largest number of web tasks."
  type        = number
}

variable "hub_min_count" {
  description = "Least number of hub tasks."
  type        = number
}

variable "hub_max_count" {
  description = "Largest number of hub tasks."
  type        = number
}

variable "worker_count" {
  description = "Number of RQ worker tasks."
  type        = number
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_allocated_storage" {
  description = "Initial database storage in GiB."
  type        = number
}

variable "db_max_allocated_storage" {
  description = "Database storage autoscaling ceiling in GiB."
  type        = number
}

variable "redis_node_count" {
  description = "Redis nodes (primary + replicas); 2 or more turn on automatic failover and Multi-AZ."
  type        = number
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "image_retention_days" {
  description = "Days passage photos are kept (at least 730)."
  type        = number
}

variable "registry_retention_days" {
  description = "Days registry documents are kept (at least 1826)."
  type        = number
}

variable "video_retention_days" {
  description = "Days gate videos are kept (at least 366)."
  type        = number
}

variable "checkpoint_lock_days" {
  description = "Object Lock COMPLIANCE retention of ledger checkpoints in days (at least 1826; cannot be shortened later)."
  type        = number
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps container, database and flow logs."
  type        = number
}

variable "extra_secret_arns" {
  description = "More container secrets, variable name => Secrets Manager ARN (WECHAT_APP_SECRET, SMS keys, WECHATPAY_*, ...)."
  type        = map(string)
}

variable "extra_environment" {
  description = "More plain environment variables for every role (SMS_PROVIDER, WECHAT_APP_ID, ...)."
  type        = map(string)
}

variable "alarm_email" {
  description = "E-mail address for alarm notifications (confirm the subscription mail); empty for none."
  type        = string
}

variable "max_5xx_percent" {
  description = "Alarm threshold: percentage of requests answered 5xx over 5 minutes."
  type        = number
}

variable "min_connected_bridges" {
  description = "Alarm threshold: fewest edge bridges connected to the hub (0 alarms only when the metric stops)."
  type        = number
}

variable "max_outbox_depth" {
  description = "Alarm threshold: most regulator uploads due."
  type        = number
}

# --- what differs between the environments (set by envs/<env>/main.tf, not by the operator) ------------

variable "environment" {
  description = "Environment name: tags, CLEANGATE_ENV of the containers, metric dimension."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both zones (cheaper) instead of one per zone."
  type        = bool
}

variable "force_destroy" {
  description = "Let terraform destroy delete non-empty buckets (never for production data)."
  type        = bool
}

variable "db_multi_az" {
  description = "RDS standby in the second zone."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "RDS automated backup (point-in-time recovery) retention in days, 1-35."
  type        = number

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35."
  }
}

variable "deletion_protection" {
  description = "Deletion protection of the database and the ALB."
  type        = bool
}

variable "apply_immediately" {
  description = "Apply database and Redis changes at once instead of in the maintenance window."
  type        = bool
}

variable "redis_snapshot_retention_days" {
  description = "Days ElastiCache keeps daily Redis snapshots (0 for none)."
  type        = number
}
