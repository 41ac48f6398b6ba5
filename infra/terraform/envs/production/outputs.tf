output "app_url" {
  description = "Public address of the portal (CLEANGATE_BASE_URL)."
  value       = module.platform.app_url
}

output "hub_url" {
  description = "Websocket address of the hub (EDGE_HUB_URL, BOARD_FEED_URL): configure edge bridges with it."
  value       = module.platform.hub_url
}

output "alb_dns_name" {
  description = "DNS name of the ALB: CNAME or alias app_domain and hub_domain to it."
  value       = module.platform.alb_dns_name
}

output "alb_zone_id" {
  description = "Hosted zone id of the ALB (alias records)."
  value       = module.platform.alb_zone_id
}

output "nat_public_ips" {
  description = "Egress IPs of the platform (for regulator and payment allow-lists)."
  value       = module.platform.nat_public_ips
}

output "ecr_repository_url" {
  description = "Push the image here (docker push <url>:<tag>), then apply with image_tag=<tag>."
  value       = module.platform.ecr_repository_url
}

output "image" {
  description = "Image every role runs."
  value       = module.platform.image
}

output "cluster_name" {
  description = "ECS cluster."
  value       = module.platform.cluster_name
}

output "service_names" {
  description = "ECS services by role."
  value       = module.platform.service_names
}

output "task_definition_families" {
  description = "Task definition families by role."
  value       = module.platform.task_definition_families
}

output "migrate_task_definition_family" {
  description = "Family of the one-off migrate task."
  value       = module.platform.migrate_task_definition_family
}

output "private_subnet_ids" {
  description = "Private subnets (aws ecs run-task --network-configuration)."
  value       = module.platform.private_subnet_ids
}

output "tasks_security_group_id" {
  description = "Security group of the tasks (aws ecs run-task --network-configuration)."
  value       = module.platform.tasks_security_group_id
}

output "run_migrate_command" {
  description = "Runs the migrate task once (after every image change that carries migrations)."
  value       = module.platform.run_migrate_command
}

output "log_group_names" {
  description = "CloudWatch log groups by role."
  value       = module.platform.log_group_names
}

output "media_bucket" {
  description = "Media bucket (STORAGE_URL)."
  value       = module.platform.media_bucket
}

output "checkpoint_bucket" {
  description = "Object Lock bucket of ledger checkpoints (CHECKPOINT_STORAGE_URL)."
  value       = module.platform.checkpoint_bucket
}

output "logs_bucket" {
  description = "Bucket of ALB and S3 access logs."
  value       = module.platform.logs_bucket
}

output "db_address" {
  description = "Database host (TLS required)."
  value       = module.platform.db_address
}

output "database_url_secret_arn" {
  description = "Secret holding DATABASE_URL."
  value       = module.platform.database_url_secret_arn
}

output "migration_database_url_secret_arn" {
  description = "Secret holding MIGRATION_DATABASE_URL."
  value       = module.platform.migration_database_url_secret_arn
}

output "db_master_secret_arn" {
  description = "RDS-managed master user secret (DB_ADMIN_USER / DB_ADMIN_PASSWORD of the migrate task)."
  value       = module.platform.db_master_secret_arn
}

output "redis_url_secret_arn" {
  description = "Secret holding REDIS_URL."
  value       = module.platform.redis_url_secret_arn
}

output "generated_secret_arns" {
  description = "Secrets holding SECRET_KEY, LEDGER_SIGNING_KEY, REGULATOR_MASTER_KEYS."
  value       = module.platform.generated_secret_arns
}

output "alarm_topic_arn" {
  description = "SNS topic of all alarms (subscribe more endpoints here)."
  value       = module.platform.alarm_topic_arn
}

output "kms_key_arn" {
  description = "KMS key of the environment."
  value       = module.platform.kms_key_arn
}
