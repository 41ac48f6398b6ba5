# CleanGate production: the provider and modules/platform with this environment's settings.
# The wiring itself is in ../../modules/platform; ../../README.md explains how the pieces connect.
provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "cleangate"
      Environment = local.environment
      ManagedBy   = "terraform"
    }
  }
}

locals {
  environment = "production"
}

module "platform" {
  source = "../../modules/platform"

  environment = local.environment

  # Production: NAT per zone, Multi-AZ database with 35-day point-in-time recovery, Redis with
  # failover (2+ nodes, see variables.tf), deletion protection, changes in the maintenance window.
  single_nat_gateway            = false
  force_destroy                 = false
  db_multi_az                   = true
  db_backup_retention_days      = 35
  deletion_protection           = true
  apply_immediately             = false
  redis_node_count              = var.redis_node_count
  redis_snapshot_retention_days = 7

  name                     = var.name
  availability_zones       = var.availability_zones
  vpc_cidr                 = var.vpc_cidr
  bucket_prefix            = var.bucket_prefix
  app_domain               = var.app_domain
  hub_domain               = var.hub_domain
  certificate_arn          = var.certificate_arn
  ssl_policy               = var.ssl_policy
  route53_zone_id          = var.route53_zone_id
  waf_web_acl_arn          = var.waf_web_acl_arn
  ingress_cidrs            = var.ingress_cidrs
  image                    = var.image
  image_tag                = var.image_tag
  cpu_architecture         = var.cpu_architecture
  task_sizes               = var.task_sizes
  web_min_count            = var.web_min_count
  web_max_count            = var.web_max_count
  hub_min_count            = var.hub_min_count
  hub_max_count            = var.hub_max_count
  worker_count             = var.worker_count
  db_instance_class        = var.db_instance_class
  db_allocated_storage     = var.db_allocated_storage
  db_max_allocated_storage = var.db_max_allocated_storage
  redis_node_type          = var.redis_node_type
  image_retention_days     = var.image_retention_days
  registry_retention_days  = var.registry_retention_days
  video_retention_days     = var.video_retention_days
  checkpoint_lock_days     = var.checkpoint_lock_days
  log_retention_days       = var.log_retention_days
  extra_secret_arns        = var.extra_secret_arns
  extra_environment        = var.extra_environment
  alarm_email              = var.alarm_email
  max_5xx_percent          = var.max_5xx_percent
  min_connected_bridges    = var.min_connected_bridges
  max_outbox_depth         = var.max_outbox_depth
}
