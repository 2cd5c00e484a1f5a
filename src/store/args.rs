//! The store flags shared by the commands that write to or read from a store.

/// `--bucket`, `--store`, `--endpoint-url` (flatten into a command's arguments).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// Bucket name, instead of $AWS_S3_BUCKET (prod) / $AWS_TEST_BUCKET (dev).
    #[arg(long, value_name = "BUCKET", conflicts_with = "store")]
    pub bucket: Option<String>,
    /// Store URL: s3://BUCKET, file:///abs/dir or file://relative/dir.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// S3-compatible endpoint (path-style addressing); default $AWS_ENDPOINT_URL, else AWS.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}
