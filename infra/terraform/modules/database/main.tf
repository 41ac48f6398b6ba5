# PostgreSQL 16 on RDS. The master user is RDS-managed (Secrets Manager); the migrate task
# uses it once per run to create cleangate_owner / cleangate_app with the passwords generated
# here into the MIGRATION_DATABASE_URL / DATABASE_URL secrets.
data "aws_partition" "current" {}

data "aws_service_principal" "monitoring" {
  service_name = "monitoring.rds"
}

locals {
  identifier   = var.name
  db_name      = "cleangate"
  master_user  = "cleangate_admin"
  owner_role   = "cleangate_owner"
  app_role     = "cleangate_app"
  log_exports  = ["postgresql", "upgrade"]
  monitor_role = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_subnet_group" "this" {
  name        = var.name
  description = "Private subnets of ${var.name}"
  subnet_ids  = var.subnet_ids
}

resource "aws_security_group" "this" {
  name        = "${var.name}-postgres"
  description = "PostgreSQL of ${var.name}: 5432 from the ECS tasks only"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-postgres" }
}

resource "aws_vpc_security_group_ingress_rule" "from_tasks" {
  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL from the ECS tasks"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = var.client_security_group_id
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.name}-postgres16"
  family      = "postgres16"
  description = "CleanGate PostgreSQL 16: TLS only, useful logs"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  # DDL only: data statements would copy personal data (plates, phone numbers) into the logs.
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.slow_statement_ms)
  }

  parameter {
    name  = "log_temp_files"
    value = "10240"
  }

  parameter {
    name  = "log_autovacuum_min_duration"
    value = "10000"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Created before the instance so RDS writes into encrypted groups with a retention, not its own.
resource "aws_cloudwatch_log_group" "exports" {
  for_each = toset(local.log_exports)

  name              = "/aws/rds/instance/${local.identifier}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_iam_role" "monitoring" {
  name = "${var.name}-rds-monitoring"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = data.aws_service_principal.monitoring.name }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = local.monitor_role
}

resource "aws_db_instance" "this" {
  identifier     = local.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = local.db_name
  port           = 5432

  username                      = local.master_user
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false
  multi_az               = var.multi_az
  parameter_group_name   = aws_db_parameter_group.this.name

  iam_database_authentication_enabled = true

  backup_retention_period   = var.backup_retention_days
  backup_window             = var.backup_window
  maintenance_window        = var.maintenance_window
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.identifier}-final"
  deletion_protection       = var.deletion_protection

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = var.apply_immediately

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7

  monitoring_interval = var.monitoring_interval
  monitoring_role_arn = aws_iam_role.monitoring.arn

  enabled_cloudwatch_logs_exports = local.log_exports

  depends_on = [
    aws_cloudwatch_log_group.exports,
    aws_iam_role_policy_attachment.monitoring,
  ]
}

# --- application role URLs ---------------------------------------------------------------------
# The passwords are drawn once (ignore_changes) into their own secrets; the URL secrets are built
# from them, so they follow an endpoint change without rotating the password.

data "aws_secretsmanager_random_password" "role" {
  for_each = toset([local.owner_role, local.app_role])

  password_length     = 40
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "role_password" {
  for_each = toset([local.owner_role, local.app_role])

  name                    = "${var.name}/db/${each.key}-password"
  description             = "Password of the PostgreSQL role ${each.key} (generated once; the migrate task sets it)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "role_password" {
  for_each = toset([local.owner_role, local.app_role])

  secret_id     = aws_secretsmanager_secret.role_password[each.key].id
  secret_string = data.aws_secretsmanager_random_password.role[each.key].random_password

  lifecycle {
    ignore_changes = [secret_string]
  }
}

locals {
  role_url = {
    for role in [local.owner_role, local.app_role] : role => format(
      "postgresql://%s:%s@%s:%d/%s?sslmode=require",
      role,
      aws_secretsmanager_secret_version.role_password[role].secret_string,
      aws_db_instance.this.address,
      aws_db_instance.this.port,
      local.db_name,
    )
  }
}

resource "aws_secretsmanager_secret" "database_url" {
  name                    = "${var.name}/DATABASE_URL"
  description             = "DATABASE_URL of the CleanGate processes (role ${local.app_role}, bound by RLS)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id     = aws_secretsmanager_secret.database_url.id
  secret_string = local.role_url[local.app_role]
}

resource "aws_secretsmanager_secret" "migration_database_url" {
  name                    = "${var.name}/MIGRATION_DATABASE_URL"
  description             = "MIGRATION_DATABASE_URL of the migrate task (role ${local.owner_role}, owns the tables)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "migration_database_url" {
  secret_id     = aws_secretsmanager_secret.migration_database_url.id
  secret_string = local.role_url[local.owner_role]
}
