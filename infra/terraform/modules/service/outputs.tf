output "cluster_name" {
  description = "ECS cluster name (aws ecs run-task --cluster)."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ECS cluster ARN."
  value       = aws_ecs_cluster.this.arn
}

output "ecr_repository_url" {
  description = "ECR repository to push the image to (tags are immutable)."
  value       = aws_ecr_repository.this.repository_url
}

output "image" {
  description = "Image reference every role runs."
  value       = local.image
}

output "service_names" {
  description = "ECS service names by role."
  value = {
    web       = aws_ecs_service.web.name
    hub       = aws_ecs_service.hub.name
    worker    = aws_ecs_service.worker.name
    scheduler = aws_ecs_service.scheduler.name
  }
}

output "task_definition_families" {
  description = "Task definition family by role (web, hub, worker, scheduler, migrate)."
  value       = { for role, td in aws_ecs_task_definition.this : role => td.family }
}

output "migrate_task_definition_family" {
  description = "Family of the one-off migrate task (aws ecs run-task --task-definition)."
  value       = aws_ecs_task_definition.this["migrate"].family
}

output "migrate_task_definition_arn" {
  description = "Current revision of the migrate task definition."
  value       = aws_ecs_task_definition.this["migrate"].arn
}

output "tasks_security_group_id" {
  description = "Security group of the tasks (also for aws ecs run-task of the migrate task)."
  value       = aws_security_group.tasks.id
}

output "log_group_names" {
  description = "CloudWatch log group by role."
  value       = { for role, lg in aws_cloudwatch_log_group.role : role => lg.name }
}

output "alarm_topic_arn" {
  description = "SNS topic receiving every alarm."
  value       = aws_sns_topic.alarms.arn
}

output "task_role_arn" {
  description = "IAM role of the running web, hub, worker and scheduler containers (S3, KMS)."
  value       = aws_iam_role.task.arn
}

output "execution_role_arns" {
  description = "ECS execution roles: app (services) and migrate (adds owner and master secrets)."
  value       = { for k, r in aws_iam_role.execution : k => r.arn }
}

output "generated_secret_arns" {
  description = "Secrets Manager ARNs of SECRET_KEY, LEDGER_SIGNING_KEY and REGULATOR_MASTER_KEYS."
  value       = { for k, s in aws_secretsmanager_secret.generated : k => s.arn }
}
