variable "region" {
  description = "AWS region, e.g. cn-northwest-1, cn-north-1 (China) or a global region."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as cn-northwest-1."
  }
}

variable "availability_zones" {
  description = "Two availability zones of the region, e.g. [\"cn-northwest-1a\", \"cn-northwest-1b\"]."
  type        = list(string)
}

variable "name" {
  description = "Name prefix of the environment's resources (ECS cluster, RDS, Redis, ALB, log groups)."
  type        = string
  default     = "cleangate-staging"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,24}$", var.name))
    error_message = "name: 3-25 characters, lower-case letters, digits and '-', starting with a letter."
  }
}

variable "bucket_prefix" {
  description = "Globally unique S3 name prefix: buckets <prefix>-media, <prefix>-checkpoints, <prefix>-logs."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,48}[a-z0-9]$", var.bucket_prefix))
    error_message = "bucket_prefix: 4-50 characters of lower-case letters, digits and '-'."
  }
}

variable "app_domain" {
  description = "Host name of the portal, console, boards and APIs, e.g. staging.cleangate.example.cn."
  type        = string
}

variable "hub_domain" {
  description = "Host name of the websocket hub for edge bridges and board feeds, e.g. hub.staging.cleangate.example.cn."
  type        = string
}

variable "certificate_arn" {
  description = "HTTPS certificate covering app_domain and hub_domain: ACM, or an IAM server certificate in the China regions."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone to create alias records for app_domain and hub_domain in; empty when DNS is elsewhere."
  type        = string
  default     = ""
}

variable "waf_web_acl_arn" {
  description = "Regional WAFv2 web ACL to attach to the ALB; empty for none."
  type        = string
  default     = ""
}

variable "ingress_cidrs" {
  description = "IPv4 ranges allowed to reach the ALB on 443 and 80."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "vpc_cidr" {
  description = "IPv4 range of the VPC (/16)."
  type        = string
  default     = "10.41.0.0/16"
}

variable "image_tag" {
  description = "Image tag (immutable, e.g. the git commit) in this environment's ECR repository; output ecr_repository_url."
  type        = string
  default     = ""
}

variable "image" {
  description = "Full image reference overriding ECR + image_tag (e.g. a mirror registry); empty to use image_tag."
  type        = string
  default     = ""
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64 or ARM64."
  type        = string
  default     = "X86_64"
}

variable "task_sizes" {
  description = "Fargate cpu units and memory MiB per role (web, hub, worker, scheduler, migrate)."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {
    web       = { cpu = 256, memory = 512 }
    hub       = { cpu = 256, memory = 512 }
    worker    = { cpu = 256, memory = 512 }
    scheduler = { cpu = 256, memory = 512 }
    migrate   = { cpu = 256, memory = 512 }
  }
}

variable "web_min_count" {
  description = "Least number of web tasks."
  type        = number
  default     = 1
}

variable "web_max_count" {
  description = "Largest number of web tasks."
  type        = number
  default     = 2
}

variable "hub_min_count" {
  description = "Least number of hub tasks."
  type        = number
  default     = 1
}

variable "hub_max_count" {
  description = "Largest number of hub tasks."
  type        = number
  default     = 2
}

variable "worker_count" {
  description = "Number of RQ worker tasks."
  type        = number
  default     = 1
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "Initial database storage in GiB."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Database storage autoscaling ceiling in GiB."
  type        = number
  default     = 100
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "image_retention_days" {
  description = "Days passage photos are kept (at least 730)."
  type        = number
  default     = 800
}

variable "registry_retention_days" {
  description = "Days registry documents are kept (at least 1826)."
  type        = number
  default     = 1900
}

variable "video_retention_days" {
  description = "Days gate videos are kept (at least 366)."
  type        = number
  default     = 400
}

variable "checkpoint_lock_days" {
  description = "Object Lock COMPLIANCE retention of ledger checkpoints in days (at least 1826; cannot be shortened later)."
  type        = number
  default     = 1900
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps container, database and flow logs."
  type        = number
  default     = 365
}

variable "extra_secret_arns" {
  description = "More container secrets, variable name => Secrets Manager ARN (WECHAT_APP_SECRET, SMS keys, WECHATPAY_*, ...)."
  type        = map(string)
  default     = {}
}

variable "extra_environment" {
  description = "More plain environment variables for every role (SMS_PROVIDER, WECHAT_APP_ID, ...)."
  type        = map(string)
  default     = {}
}

variable "alarm_email" {
  description = "E-mail address for alarm notifications (confirm the subscription mail); empty for none."
  type        = string
  default     = ""
}

variable "max_5xx_percent" {
  description = "Alarm threshold: percentage of requests answered 5xx over 5 minutes."
  type        = number
  default     = 5
}

variable "min_connected_bridges" {
  description = "Alarm threshold: fewest edge bridges connected to the hub (0 alarms only when the metric stops)."
  type        = number
  default     = 0
}

variable "max_outbox_depth" {
  description = "Alarm threshold: most regulator uploads due."
  type        = number
  default     = 500
}
