output "app_url" {
  description = "Public address of the portal (CLEANGATE_BASE_URL)."
  value       = "https://${var.app_domain}"
}

output "hub_url" {
  description = "Websocket address of the hub (EDGE_HUB_URL, BOARD_FEED_URL): configure edge bridges with it."
  value       = "wss://${var.hub_domain}/"
}

output "alb_dns_name" {
  description = "DNS name of the ALB: CNAME or alias app_domain and hub_domain to it."
  value       = module.edge.alb_dns_name
}

output "alb_zone_id" {
  description = "Hosted zone id of the ALB (alias records)."
  value       = module.edge.alb_zone_id
}

output "nat_public_ips" {
  description = "Egress IPs of the platform (for regulator and payment allow-lists)."
  value       = module.network.nat_public_ips
}

output "ecr_repository_url" {
  description = "Push the image here (docker push <url>:<tag>), then apply with image_tag=<tag>."
  value       = module.service.ecr_repository_url
}

output "image" {
  description = "Image every role runs."
  value       = module.service.image
}

output "cluster_name" {
  description = "ECS cluster."
  value       = module.service.cluster_name
}

output "service_names" {
  description = "ECS services by role."
  value       = module.service.service_names
}

output "task_definition_families" {
  description = "Task definition families by role."
  value       = module.service.task_definition_families
}

output "migrate_task_definition_family" {
  description = "Family of the one-off migrate task."
  value       = module.service.migrate_task_definition_family
}

output "private_subnet_ids" {
  description = "Private subnets (aws ecs run-task --network-configuration)."
  value       = module.network.private_subnet_ids
}

output "tasks_security_group_id" {
  description = "Security group of the tasks (aws ecs run-task --network-configuration)."
  value       = module.service.tasks_security_group_id
}

output "run_migrate_command" {
  description = "Runs the migrate task once (after every image change that carries migrations)."
  value = format(
    "aws ecs run-task --region %s --cluster %s --task-definition %s --launch-type FARGATE --network-configuration 'awsvpcConfiguration={subnets=[%s],securityGroups=[%s],assignPublicIp=DISABLED}'",
    data.aws_region.current.name,
    module.service.cluster_name,
    module.service.migrate_task_definition_family,
    join(",", module.network.private_subnet_ids),
    module.service.tasks_security_group_id,
  )
}

output "log_group_names" {
  description = "CloudWatch log groups by role."
  value       = module.service.log_group_names
}

output "media_bucket" {
  description = "Media bucket (STORAGE_URL)."
  value       = module.storage.media_bucket
}

output "checkpoint_bucket" {
  description = "Object Lock bucket of ledger checkpoints (CHECKPOINT_STORAGE_URL)."
  value       = module.storage.checkpoint_bucket
}

output "logs_bucket" {
  description = "Bucket of ALB and S3 access logs."
  value       = module.storage.logs_bucket
}

output "db_address" {
  description = "Database host (TLS required)."
  value       = module.database.address
}

output "database_url_secret_arn" {
  description = "Secret holding DATABASE_URL."
  value       = module.database.database_url_secret_arn
}

output "migration_database_url_secret_arn" {
  description = "Secret holding MIGRATION_DATABASE_URL."
  value       = module.database.migration_database_url_secret_arn
}

output "db_master_secret_arn" {
  description = "RDS-managed master user secret (DB_ADMIN_USER / DB_ADMIN_PASSWORD of the migrate task)."
  value       = module.database.master_user_secret_arn
}

output "redis_url_secret_arn" {
  description = "Secret holding REDIS_URL."
  value       = module.cache.redis_url_secret_arn
}

output "generated_secret_arns" {
  description = "Secrets holding SECRET_KEY, LEDGER_SIGNING_KEY, REGULATOR_MASTER_KEYS."
  value       = module.service.generated_secret_arns
}

output "alarm_topic_arn" {
  description = "SNS topic of all alarms (subscribe more endpoints here)."
  value       = module.service.alarm_topic_arn
}

output "kms_key_arn" {
  description = "KMS key of the environment."
  value       = aws_kms_key.this.arn
}
