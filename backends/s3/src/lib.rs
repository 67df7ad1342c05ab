//! S3 storage backend (aws-sdk-s3). Work in progress.
