variable "name" {
  description = "Name prefix of every resource, e.g. cleangate-production (ALB names are cut to 32 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,24}$", var.name))
    error_message = "name: 3-25 characters, lower-case letters, digits and '-' (room for the -web / -hub suffixes)."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer and its targets."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets (two zones) the ALB listens in."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "public_subnet_ids: an ALB needs subnets in at least two availability zones."
  }
}

variable "ingress_cidrs" {
  description = "IPv4 ranges allowed on 443 and 80 (browsers, mini-program, edge bridges at the plants)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.ingress_cidrs) > 0 && alltrue([for c in var.ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "ingress_cidrs must be a non-empty list of IPv4 CIDRs such as 0.0.0.0/0 or 203.0.113.0/24."
  }
}

variable "target_security_group_id" {
  description = "Security group of the ECS tasks: the only destination the ALB may reach (8000, 8765)."
  type        = string
}

variable "certificate_arn" {
  description = "Certificate for HTTPS: an ACM certificate, or an IAM server certificate in the China regions (ACM issues no public certificates there)."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:(acm|iam):", var.certificate_arn))
    error_message = "certificate_arn must be the ARN of an ACM certificate or of an IAM server certificate."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.2 minimum, TLS 1.3 preferred)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "app_domain" {
  description = "Host name of the portal, console, boards and APIs (the default route), e.g. app.example.cn."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.app_domain))
    error_message = "app_domain must be a lower-case host name such as app.example.cn."
  }
}

variable "hub_domain" {
  description = "Host name routed to the websocket hub (edge bridges, live board feeds), e.g. hub.example.cn."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.hub_domain))
    error_message = "hub_domain must be a lower-case host name such as hub.example.cn."
  }
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone for alias records of app_domain and hub_domain; empty when DNS is managed elsewhere."
  type        = string
  default     = ""
}

variable "deletion_protection" {
  description = "Refuse deletion of the load balancer (true in production)."
  type        = bool
  default     = true
}

variable "idle_timeout" {
  description = "Seconds an idle connection stays open; websockets need minutes (the edge pings well within it)."
  type        = number
  default     = 900

  validation {
    condition     = var.idle_timeout >= 60 && var.idle_timeout <= 4000
    error_message = "idle_timeout must be between 60 and 4000 seconds."
  }
}

variable "access_logs_bucket" {
  description = "Bucket receiving ALB access logs (SSE-S3, with the ELB delivery policy)."
  type        = string
}

variable "access_logs_prefix" {
  description = "Prefix of the ALB access logs inside access_logs_bucket."
  type        = string
  default     = "alb"
}

variable "web_port" {
  description = "Container port of the web role (gunicorn)."
  type        = number
  default     = 8000
}

variable "hub_port" {
  description = "Container port of the hub role (websocket server)."
  type        = number
  default     = 8765
}

variable "health_check_path" {
  description = "Path answering 200 on both web and hub."
  type        = string
  default     = "/healthz"
}

variable "hub_stickiness_seconds" {
  description = "Lifetime of the hub stickiness cookie (lb_cookie)."
  type        = number
  default     = 86400

  validation {
    condition     = var.hub_stickiness_seconds >= 1 && var.hub_stickiness_seconds <= 604800
    error_message = "hub_stickiness_seconds must be between 1 and 604800 (7 days)."
  }
}

variable "waf_web_acl_arn" {
  description = "Regional WAFv2 web ACL to attach to the ALB; empty for none."
  type        = string
  default     = ""
}
