output "media_bucket" {
  description = "Name of the media bucket (STORAGE_URL=s3://<this>/)."
  value       = aws_s3_bucket.media.id
}

output "media_bucket_arn" {
  description = "ARN of the media bucket."
  value       = aws_s3_bucket.media.arn
}

output "checkpoint_bucket" {
  description = "Name of the Object Lock bucket of signed ledger checkpoints (CHECKPOINT_STORAGE_URL=s3://<this>/)."
  value       = aws_s3_bucket.checkpoints.id
}

output "checkpoint_bucket_arn" {
  description = "ARN of the checkpoint bucket."
  value       = aws_s3_bucket.checkpoints.arn
}

output "logs_bucket" {
  description = "Name of the logs bucket, ready for ALB delivery (prefix alb/) once its policy is in place."
  value       = aws_s3_bucket_policy.logs.bucket
}

output "logs_bucket_arn" {
  description = "ARN of the logs bucket."
  value       = aws_s3_bucket.logs.arn
}

output "alb_log_prefix" {
  description = "Prefix the ALB writes its access logs under."
  value       = "alb"
}
