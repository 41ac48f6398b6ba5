# ECS on Fargate: one image, five roles chosen by the container command (web, hub, worker,
# scheduler as services; migrate as a one-off task run with `aws ecs run-task`).
data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_service_principal" "ecs_tasks" {
  service_name = "ecs-tasks"
}

locals {
  roles     = toset(["web", "hub", "worker", "scheduler", "migrate"])
  services  = toset(["web", "hub", "worker", "scheduler"])
  web_port  = 8000
  hub_port  = 8765
  image     = var.image != "" ? var.image : "${aws_ecr_repository.this.repository_url}:${var.image_tag}"
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = var.kms_key_arn
      logging    = "OVERRIDE"

      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.exec.name
      }
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Untagged layers after 14 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 14
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest ${var.ecr_keep_images} images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.ecr_keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

resource "aws_cloudwatch_log_group" "role" {
  for_each = local.roles

  name              = "/cleangate/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# Only used if someone turns on ECS Exec for debugging; kept encrypted like the rest.
resource "aws_cloudwatch_log_group" "exec" {
  name              = "/cleangate/${var.name}/ecs-exec"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# --- network -----------------------------------------------------------------------------------------

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "ECS tasks of ${var.name}: web and hub ports from the ALB only"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-tasks" }
}

resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  for_each = {
    web = local.web_port
    hub = local.hub_port
  }

  security_group_id            = aws_security_group.tasks.id
  description                  = "${each.key} from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = var.alb_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "out" {
  for_each = toset(var.task_egress_cidrs)

  security_group_id = aws_security_group.tasks.id
  description       = "Database, Redis, S3, ECR and external APIs (regulators, WeChat, SMS, payments)"
  ip_protocol       = "-1"
  cidr_ipv4         = each.key
}
