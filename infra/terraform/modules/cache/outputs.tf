output "replication_group_id" {
  description = "ID of the Redis replication group."
  value       = aws_elasticache_replication_group.this.id
}

output "member_cluster_ids" {
  description = "Node ids (CloudWatch dimension CacheClusterId): <replication group id>-001, -002, ..."
  value       = [for i in range(var.node_count) : format("%s-%03d", var.name, i + 1)]
}

output "primary_endpoint_address" {
  description = "Host name of the primary endpoint (TLS on 6379)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "redis_url_secret_arn" {
  description = "Secret holding REDIS_URL."
  value       = aws_secretsmanager_secret_version.redis_url.arn
}

output "security_group_id" {
  description = "Security group of the cache."
  value       = aws_security_group.this.id
}
