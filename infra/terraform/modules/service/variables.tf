variable "name" {
  description = "Name prefix of every resource, e.g. cleangate-production (also the ECS cluster name)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name: 3-31 characters, lower-case letters, digits and '-', starting with a letter."
  }
}

variable "environment" {
  description = "Environment name: METRICS_ENVIRONMENT of the processes and the Environment dimension of the alarms."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "vpc_id" {
  description = "VPC of the tasks."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets the Fargate tasks run in."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids: give the private subnets of both zones."
  }
}

variable "alb_security_group_id" {
  description = "Security group of the ALB: the only source allowed on the web and hub ports."
  type        = string
}

variable "web_target_group_arn" {
  description = "ALB target group of the web role."
  type        = string
}

variable "hub_target_group_arn" {
  description = "ALB target group of the hub role."
  type        = string
}

variable "task_egress_cidrs" {
  description = "Where tasks may connect out (regulator platforms, WeChat, SMS and payment APIs use assorted ports)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.task_egress_cidrs : can(cidrhost(c, 0))])
    error_message = "task_egress_cidrs must be IPv4 CIDRs such as 0.0.0.0/0."
  }
}

variable "kms_key_arn" {
  description = "KMS key of the environment (logs, ECR, SNS, generated secrets, S3 objects)."
  type        = string
}

variable "image" {
  description = "Full image reference for all roles; empty means <ECR repository of this module>:<image_tag>."
  type        = string
  default     = ""
}

variable "image_tag" {
  description = "Tag in the module's ECR repository (immutable, e.g. the git commit) used when image is empty."
  type        = string
  default     = ""

  validation {
    condition     = var.image_tag == "" || can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag (letters, digits, _ . -, at most 128 characters)."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64 or ARM64 (Graviton Fargate)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "task_sizes" {
  description = "Fargate cpu units and memory MiB per role (web, hub, worker, scheduler, migrate)."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {
    web       = { cpu = 512, memory = 1024 }
    hub       = { cpu = 512, memory = 1024 }
    worker    = { cpu = 512, memory = 1024 }
    scheduler = { cpu = 256, memory = 512 }
    migrate   = { cpu = 512, memory = 1024 }
  }

  validation {
    condition     = length(setsubtract(["web", "hub", "worker", "scheduler", "migrate"], keys(var.task_sizes))) == 0
    error_message = "task_sizes must have an entry for each of web, hub, worker, scheduler and migrate."
  }

  validation {
    condition     = alltrue([for s in values(var.task_sizes) : contains([256, 512, 1024, 2048, 4096, 8192, 16384], s.cpu) && s.memory >= 512])
    error_message = "task_sizes: cpu must be a Fargate size (256, 512, 1024, 2048, 4096, 8192, 16384) and memory at least 512."
  }
}

variable "web_min_count" {
  description = "Least number of web tasks (autoscaling floor)."
  type        = number
  default     = 2

  validation {
    condition     = var.web_min_count >= 1
    error_message = "web_min_count must be at least 1."
  }
}

variable "web_max_count" {
  description = "Largest number of web tasks (autoscaling ceiling)."
  type        = number
  default     = 8
}

variable "hub_min_count" {
  description = "Least number of hub tasks (autoscaling floor)."
  type        = number
  default     = 2

  validation {
    condition     = var.hub_min_count >= 1
    error_message = "hub_min_count must be at least 1."
  }
}

variable "hub_max_count" {
  description = "Largest number of hub tasks (autoscaling ceiling)."
  type        = number
  default     = 6
}

variable "worker_count" {
  description = "Number of RQ worker tasks (at least 2 in production)."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_count >= 1
    error_message = "worker_count must be at least 1."
  }
}

variable "cpu_target_percent" {
  description = "Average CPU the web and hub autoscaling aims at."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 20 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 20 and 90."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the container logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs value of at least a year (365, 400, 545, 731, ...)."
  }
}

variable "ecr_keep_images" {
  description = "Tagged images kept in the ECR repository (older ones expire; untagged ones after 14 days)."
  type        = number
  default     = 50

  validation {
    condition     = var.ecr_keep_images >= 5
    error_message = "ecr_keep_images must be at least 5 so rollbacks stay possible."
  }
}

# --- what the processes are told --------------------------------------------------------------------

variable "app_domain" {
  description = "Host name of the web role; CLEANGATE_BASE_URL=https://<app_domain>."
  type        = string
}

variable "hub_domain" {
  description = "Host name of the hub; EDGE_HUB_URL and BOARD_FEED_URL = wss://<hub_domain>/."
  type        = string
}

variable "media_bucket" {
  description = "Media bucket name (STORAGE_URL)."
  type        = string
}

variable "media_bucket_arn" {
  description = "Media bucket ARN (task role access)."
  type        = string
}

variable "checkpoint_bucket" {
  description = "Checkpoint bucket name (CHECKPOINT_STORAGE_URL)."
  type        = string
}

variable "checkpoint_bucket_arn" {
  description = "Checkpoint bucket ARN (task role access)."
  type        = string
}

variable "database_url_secret_arn" {
  description = "Secret of DATABASE_URL (app role)."
  type        = string
}

variable "migration_database_url_secret_arn" {
  description = "Secret of MIGRATION_DATABASE_URL (owner role), given to the migrate task only."
  type        = string
}

variable "db_master_secret_arn" {
  description = "RDS-managed master secret; its username / password become DB_ADMIN_USER / DB_ADMIN_PASSWORD of the migrate task only."
  type        = string
}

variable "redis_url_secret_arn" {
  description = "Secret of REDIS_URL."
  type        = string
}

variable "extra_secret_arns" {
  description = "More container secrets, environment variable name => Secrets Manager ARN (optionally with :json-key:: suffix), e.g. WECHAT_APP_SECRET, SMS keys, WECHATPAY_*."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_secret_arns) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "extra_secret_arns: keys must be environment variable names in upper case, e.g. WECHAT_APP_SECRET."
  }

  validation {
    condition     = alltrue([for v in values(var.extra_secret_arns) : can(regex("^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+(:[^:]*:[^:]*:[^:]*)?$", v))])
    error_message = "extra_secret_arns: values must be Secrets Manager secret ARNs (optionally followed by :json-key:version-stage:version-id)."
  }

  validation {
    condition = length(setintersection(keys(var.extra_secret_arns), [
      "CLEANGATE_ENV", "DATABASE_URL", "MIGRATION_DATABASE_URL", "DB_ADMIN_USER", "DB_ADMIN_PASSWORD", "REDIS_URL",
      "STORAGE_URL", "CHECKPOINT_STORAGE_URL", "S3_REGION", "SECRET_KEY", "LEDGER_SIGNING_KEY", "REGULATOR_MASTER_KEYS",
      "CLEANGATE_BASE_URL", "EDGE_HUB_URL", "BOARD_FEED_URL", "PROXY_HOPS", "METRICS_EMF", "METRICS_ENVIRONMENT", "CLEANGATE_VAR_DIR",
    ])) == 0
    error_message = "extra_secret_arns must not redefine a variable this module sets (DATABASE_URL, SECRET_KEY, ...)."
  }
}

variable "extra_environment" {
  description = "More plain (non-secret) environment variables for every role, e.g. SMS_PROVIDER, WECHAT_APP_ID."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_environment) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "extra_environment: keys must be environment variable names in upper case."
  }

  validation {
    condition = length(setintersection(keys(var.extra_environment), [
      "CLEANGATE_ENV", "DATABASE_URL", "MIGRATION_DATABASE_URL", "DB_ADMIN_USER", "DB_ADMIN_PASSWORD", "REDIS_URL",
      "STORAGE_URL", "CHECKPOINT_STORAGE_URL", "S3_REGION", "SECRET_KEY", "LEDGER_SIGNING_KEY", "REGULATOR_MASTER_KEYS",
      "CLEANGATE_BASE_URL", "EDGE_HUB_URL", "BOARD_FEED_URL", "PROXY_HOPS", "METRICS_EMF", "METRICS_ENVIRONMENT", "CLEANGATE_VAR_DIR",
    ])) == 0
    error_message = "extra_environment must not redefine a variable this module sets (use the module inputs instead)."
  }
}

# --- alarms -----------------------------------------------------------------------------------------

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (the subscription must be confirmed); empty for none."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or empty."
  }
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the ALB (dimension of the 5xx alarm)."
  type        = string
}

variable "max_5xx_percent" {
  description = "Alarm when 5xx responses (target + ALB) exceed this percentage of requests over 5 minutes."
  type        = number
  default     = 5

  validation {
    condition     = var.max_5xx_percent > 0 && var.max_5xx_percent <= 100
    error_message = "max_5xx_percent must be above 0 and at most 100."
  }
}

variable "min_5xx_requests" {
  description = "Requests per 5 minutes below which the 5xx alarm stays quiet (a single error at night is not 100 %)."
  type        = number
  default     = 50

  validation {
    condition     = var.min_5xx_requests >= 0
    error_message = "min_5xx_requests must be 0 or more."
  }
}

variable "min_connected_bridges" {
  description = "Alarm when fewer edge bridges than this are connected (HubConnectedBridges); 0 only alarms when the metric stops."
  type        = number
  default     = 1

  validation {
    condition     = var.min_connected_bridges >= 0
    error_message = "min_connected_bridges must be 0 or more."
  }
}

variable "max_outbox_depth" {
  description = "Alarm when more regulator uploads than this are due (RegulatorUploadsDue)."
  type        = number
  default     = 500

  validation {
    condition     = var.max_outbox_depth >= 1
    error_message = "max_outbox_depth must be at least 1."
  }
}

variable "min_report_rate_percent" {
  description = "Alarm when the lowest per-gate regulator report rate of the previous day falls below this (RegulatorReportRateMin)."
  type        = number
  default     = 99

  validation {
    condition     = var.min_report_rate_percent > 0 && var.min_report_rate_percent <= 100
    error_message = "min_report_rate_percent must be above 0 and at most 100."
  }
}

variable "db_instance_identifier" {
  description = "RDS instance identifier (database alarms)."
  type        = string
}

variable "db_min_free_storage_gib" {
  description = "Alarm when the database has less free storage than this many GiB."
  type        = number
  default     = 10
}

variable "redis_member_cluster_ids" {
  description = "ElastiCache node ids (Redis alarms)."
  type        = list(string)
}
