# One task definition per role from the same image; the role is the container command.
locals {
  environment = merge(var.extra_environment, {
    CLEANGATE_ENV          = "production"
    STORAGE_URL            = "s3://${var.media_bucket}/"
    CHECKPOINT_STORAGE_URL = "s3://${var.checkpoint_bucket}/"
    S3_REGION              = local.region
    CLEANGATE_BASE_URL     = "https://${var.app_domain}"
    EDGE_HUB_URL           = "wss://${var.hub_domain}/"
    BOARD_FEED_URL         = "wss://${var.hub_domain}/"
    PROXY_HOPS             = "1"
    METRICS_EMF            = "1"
    METRICS_ENVIRONMENT    = var.environment
    CLEANGATE_VAR_DIR      = "/tmp/cleangate" # read-only root: local files go to the scratch volume
  })

  app_secrets = merge(var.extra_secret_arns, {
    DATABASE_URL          = var.database_url_secret_arn
    REDIS_URL             = var.redis_url_secret_arn
    SECRET_KEY            = aws_secretsmanager_secret_version.generated["SECRET_KEY"].arn
    LEDGER_SIGNING_KEY    = aws_secretsmanager_secret_version.generated["LEDGER_SIGNING_KEY"].arn
    REGULATOR_MASTER_KEYS = aws_secretsmanager_secret_version.generated["REGULATOR_MASTER_KEYS"].arn
  })

  # The migrate task alone bootstraps the roles as the RDS master and migrates as the owner.
  migrate_secrets = merge(local.app_secrets, {
    MIGRATION_DATABASE_URL = var.migration_database_url_secret_arn
    DB_ADMIN_USER          = "${var.db_master_secret_arn}:username::"
    DB_ADMIN_PASSWORD      = "${var.db_master_secret_arn}:password::"
  })

  role_secrets = { for role in local.roles : role => role == "migrate" ? local.migrate_secrets : local.app_secrets }

  ports = {
    web = local.web_port
    hub = local.hub_port
  }

  # Seconds between SIGTERM and SIGKILL: workers finish their job, the hub says goodbye.
  stop_timeout = {
    web       = 30
    hub       = 60
    worker    = 120
    scheduler = 30
    migrate   = 120
  }

  container = {
    for role in local.roles : role => {
      name                   = role
      image                  = local.image
      essential              = true
      command                = [role]
      readonlyRootFilesystem = true
      stopTimeout            = local.stop_timeout[role]
      linuxParameters        = { initProcessEnabled = true }
      mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      portMappings = contains(keys(local.ports), role) ? [{
        name          = role
        containerPort = local.ports[role]
        protocol      = "tcp"
      }] : []
      environment = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
      secrets     = [for k, arn in local.role_secrets[role] : { name = k, valueFrom = arn }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.role[role].name
          awslogs-region        = local.region
          awslogs-stream-prefix = role
        }
      }
    }
  }
}

resource "aws_ecs_task_definition" "this" {
  for_each = local.roles

  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.task_sizes[each.key].cpu)
  memory                   = tostring(var.task_sizes[each.key].memory)
  execution_role_arn       = aws_iam_role.execution[each.key == "migrate" ? "migrate" : "app"].arn
  task_role_arn            = each.key == "migrate" ? null : aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container[each.key]])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # Writable scratch space on an otherwise read-only root file system.
  volume {
    name = "tmp"
  }

  lifecycle {
    precondition {
      condition     = var.image != "" || var.image_tag != ""
      error_message = "Set image_tag (a tag pushed to the ECR repository) or image (a full image reference)."
    }
  }
}
