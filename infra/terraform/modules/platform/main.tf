# One CleanGate environment: its KMS key and the wiring of the modules. The envs/* roots only set
# what differs between environments (see ../../README.md for how the pieces connect).

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_service_principal" "logs" {
  service_name = "logs"
}

data "aws_service_principal" "cloudwatch" {
  service_name = "cloudwatch"
}

# --- one KMS key for the environment ------------------------------------------------------------------

resource "aws_kms_key" "this" {
  description             = "CleanGate ${var.environment}: data, logs, secrets, images"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # IAM policies of the account decide who else may use the key.
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = data.aws_service_principal.logs.id }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:*"
          }
        }
      },
      {
        # Alarms publish to the encrypted SNS topic.
        Sid       = "CloudWatchAlarms"
        Effect    = "Allow"
        Principal = { Service = data.aws_service_principal.cloudwatch.name }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# --- modules ---------------------------------------------------------------------------------------------

module "network" {
  source = "../network"

  name                    = var.name
  cidr_block              = var.vpc_cidr
  availability_zones      = var.availability_zones
  single_nat_gateway      = var.single_nat_gateway
  kms_key_arn             = aws_kms_key.this.arn
  flow_log_retention_days = var.log_retention_days
}

module "storage" {
  source = "../storage"

  name                    = var.bucket_prefix
  kms_key_arn             = aws_kms_key.this.arn
  image_retention_days    = var.image_retention_days
  registry_retention_days = var.registry_retention_days
  video_retention_days    = var.video_retention_days
  checkpoint_lock_days    = var.checkpoint_lock_days
  force_destroy           = var.force_destroy
}

module "database" {
  source = "../database"

  name                     = var.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = module.service.tasks_security_group_id
  kms_key_arn              = aws_kms_key.this.arn
  instance_class           = var.db_instance_class
  allocated_storage        = var.db_allocated_storage
  max_allocated_storage    = var.db_max_allocated_storage
  multi_az                 = var.db_multi_az
  backup_retention_days    = var.db_backup_retention_days
  deletion_protection      = var.deletion_protection
  log_retention_days       = var.log_retention_days
  apply_immediately        = var.apply_immediately
}

module "cache" {
  source = "../cache"

  name                     = var.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = module.service.tasks_security_group_id
  kms_key_arn              = aws_kms_key.this.arn
  node_type                = var.redis_node_type
  node_count               = var.redis_node_count
  snapshot_retention_days  = var.redis_snapshot_retention_days
  apply_immediately        = var.apply_immediately
}

module "edge" {
  source = "../edge-ingress"

  name                     = var.name
  vpc_id                   = module.network.vpc_id
  public_subnet_ids        = module.network.public_subnet_ids
  ingress_cidrs            = var.ingress_cidrs
  target_security_group_id = module.service.tasks_security_group_id
  certificate_arn          = var.certificate_arn
  ssl_policy               = var.ssl_policy
  app_domain               = var.app_domain
  hub_domain               = var.hub_domain
  route53_zone_id          = var.route53_zone_id
  waf_web_acl_arn          = var.waf_web_acl_arn
  deletion_protection      = var.deletion_protection
  access_logs_bucket       = module.storage.logs_bucket
  access_logs_prefix       = module.storage.alb_log_prefix
}

module "service" {
  source = "../service"

  name               = var.name
  environment        = var.environment
  vpc_id             = module.network.vpc_id
  private_subnet_ids = module.network.private_subnet_ids
  kms_key_arn        = aws_kms_key.this.arn

  image            = var.image
  image_tag        = var.image_tag
  cpu_architecture = var.cpu_architecture
  task_sizes       = var.task_sizes
  web_min_count    = var.web_min_count
  web_max_count    = var.web_max_count
  hub_min_count    = var.hub_min_count
  hub_max_count    = var.hub_max_count
  worker_count     = var.worker_count

  alb_security_group_id = module.edge.alb_security_group_id
  web_target_group_arn  = module.edge.web_target_group_arn
  hub_target_group_arn  = module.edge.hub_target_group_arn
  app_domain            = var.app_domain
  hub_domain            = var.hub_domain

  media_bucket          = module.storage.media_bucket
  media_bucket_arn      = module.storage.media_bucket_arn
  checkpoint_bucket     = module.storage.checkpoint_bucket
  checkpoint_bucket_arn = module.storage.checkpoint_bucket_arn

  database_url_secret_arn           = module.database.database_url_secret_arn
  migration_database_url_secret_arn = module.database.migration_database_url_secret_arn
  db_master_secret_arn              = module.database.master_user_secret_arn
  redis_url_secret_arn              = module.cache.redis_url_secret_arn
  extra_secret_arns                 = var.extra_secret_arns
  extra_environment                 = var.extra_environment

  log_retention_days       = var.log_retention_days
  alarm_email              = var.alarm_email
  alb_arn_suffix           = module.edge.alb_arn_suffix
  max_5xx_percent          = var.max_5xx_percent
  min_connected_bridges    = var.min_connected_bridges
  max_outbox_depth         = var.max_outbox_depth
  db_instance_identifier   = module.database.instance_identifier
  redis_member_cluster_ids = module.cache.member_cluster_ids
}
