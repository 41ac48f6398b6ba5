variable "name" {
  description = "Name prefix of every resource, e.g. cleangate-production."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name: 3-31 characters, lower-case letters, digits and '-', starting with a letter."
  }
}

variable "cidr_block" {
  description = "IPv4 range of the VPC (a /16 leaves room for the /24 public and /20 private subnets)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 16
    error_message = "cidr_block must be an IPv4 CIDR of /16 or larger, e.g. 10.40.0.0/16."
  }
}

variable "availability_zones" {
  description = "The two availability zones of the region to use, e.g. [\"cn-northwest-1a\", \"cn-northwest-1b\"]; named, so the subnets never move."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2 && length(distinct(var.availability_zones)) == 2
    error_message = "availability_zones: give exactly two different zones, e.g. [\"cn-northwest-1a\", \"cn-northwest-1b\"]."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both zones (cheaper, staging) instead of one per zone (production)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key encrypting the flow-log group (its policy must let CloudWatch Logs use it)."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Days CloudWatch keeps the VPC flow logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a value CloudWatch Logs accepts (e.g. 365, 400, 731)."
  }
}
