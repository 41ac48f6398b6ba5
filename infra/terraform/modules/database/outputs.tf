output "instance_identifier" {
  description = "RDS instance identifier (CloudWatch dimension DBInstanceIdentifier)."
  value       = aws_db_instance.this.identifier
}

output "instance_arn" {
  description = "ARN of the RDS instance."
  value       = aws_db_instance.this.arn
}

output "address" {
  description = "Host name of the database endpoint."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the database endpoint."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Name of the application database."
  value       = local.db_name
}

output "master_username" {
  description = "RDS master user (its password lives in the RDS-managed secret)."
  value       = local.master_user
}

output "owner_role" {
  description = "PostgreSQL role that owns the tables and runs migrations."
  value       = local.owner_role
}

output "app_role" {
  description = "PostgreSQL role the processes connect as (non-owner, bound by row-level security)."
  value       = local.app_role
}

output "master_user_secret_arn" {
  description = "RDS-managed secret of the master user (JSON keys username, password)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "database_url_secret_arn" {
  description = "Secret holding DATABASE_URL (app role)."
  value       = aws_secretsmanager_secret_version.database_url.arn
}

output "migration_database_url_secret_arn" {
  description = "Secret holding MIGRATION_DATABASE_URL (owner role)."
  value       = aws_secretsmanager_secret_version.migration_database_url.arn
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.this.id
}
