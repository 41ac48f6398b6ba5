output "alb_arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch dimension LoadBalancer)."
  value       = aws_lb.this.arn_suffix
}

output "alb_dns_name" {
  description = "DNS name of the load balancer: point app_domain and hub_domain here (CNAME or alias)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone id of the load balancer (for alias records)."
  value       = aws_lb.this.zone_id
}

output "alb_security_group_id" {
  description = "Security group of the load balancer."
  value       = aws_security_group.alb.id
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener."
  value       = aws_lb_listener.https.arn
}

output "web_target_group_arn" {
  description = "Target group of the web role (port 8000); read through the listener so services wait for it."
  value       = aws_lb_listener.https.default_action[0].target_group_arn
}

output "hub_target_group_arn" {
  description = "Target group of the hub role (port 8765, sticky); read through the rule so services wait for it."
  value       = aws_lb_listener_rule.hub.action[0].target_group_arn
}

output "web_target_group_arn_suffix" {
  description = "ARN suffix of the web target group (CloudWatch dimension TargetGroup)."
  value       = aws_lb_target_group.web.arn_suffix
}

output "hub_target_group_arn_suffix" {
  description = "ARN suffix of the hub target group (CloudWatch dimension TargetGroup)."
  value       = aws_lb_target_group.hub.arn_suffix
}

output "route53_records" {
  description = "Alias records created (empty when route53_zone_id is not set)."
  value       = { for k, r in aws_route53_record.this : k => r.fqdn }
}
