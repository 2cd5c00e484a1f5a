//! Writing one object: a single PUT, or a multipart upload (parts read, hashed and sent in
//! parallel, bounded by the store's transfer permits) that is aborted when it fails.

use super::client::{b64, describe, not_implemented, status};
use super::{no_conditional_writes, refused_changed, S3Store, META_SHA256};
use crate::error::{Error, Result};
use crate::progress::Item;
use crate::store::object::{Body, PutOutcome, PutRequest, Store};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use sha2::{Digest, Sha256};
use std::sync::Arc;

impl S3Store {
    pub(super) async fn put_single(&self, req: &PutRequest, progress: &Item) -> Result<PutOutcome> {
        let _permit = self.transfers.acquire().await.map_err(|_| Error::Interrupted)?;
        let data = match &req.body {
            Body::Bytes(b) => b.clone(),
            Body::File(p) => {
                let p2 = p.clone();
                let v = tokio::task::spawn_blocking(move || std::fs::read(&p2))
                    .await
                    .map_err(|e| Error::external(format!("read task failed: {e}")))?
                    .map_err(|e| Error::io(p, "read", e))?;
                bytes::Bytes::from(v)
            }
        };
        let digest = Sha256::digest(&data);
        let hexd = hex::encode(digest);
        if hexd != req.sha256 || data.len() as u64 != req.size {
            return Err(refused_changed(&req.body, &req.key, &req.sha256, &hexd));
        }
        let n = data.len() as u64;
        let content_type = crate::artifact::content_type_of_key(&req.key);
        let checksum = b64(&digest);
        let build = |conditional: bool| {
            let op = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&req.key)
                .content_length(n as i64)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(checksum.clone())
                .metadata(META_SHA256, &hexd)
                .content_type(content_type)
                .body(ByteStream::from(data.clone()));
            if conditional {
                op.if_none_match("*")
            } else {
                op
            }
        };
        match build(req.create_only).send().await {
            Ok(_) => {
                progress.inc(n);
                Ok(PutOutcome::Written)
            }
            Err(e) if status(&e) == Some(412) || e.code() == Some("PreconditionFailed") => Ok(PutOutcome::Exists),
            Err(e) if req.create_only && not_implemented(&e) => Err(no_conditional_writes(&self.uri(&req.key), "does not support")),
            Err(e) => Err(describe(&e, &self.what("upload", &req.key), self.attempts)),
        }
    }

    pub(super) async fn put_multipart(&self, req: &PutRequest, progress: &Item) -> Result<PutOutcome> {
        let Body::File(path) = &req.body else {
            return self.put_single(req, progress).await;
        };
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&req.key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .metadata(META_SHA256, &req.sha256)
            .content_type(crate::artifact::content_type_of_key(&req.key))
            .send()
            .await
            .map_err(|e| describe(&e, &self.what("start multipart upload of", &req.key), self.attempts))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                Error::external(format!(
                    "{}: the server returned no UploadId",
                    self.what("start multipart upload of", &req.key)
                ))
            })?
            .to_string();
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((req.key.clone(), upload_id.clone()));
        let result = self.multipart_body(req, path, &upload_id, progress).await;
        if result.is_err() {
            self.abort(&req.key, &upload_id).await;
        }
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, id)| id != &upload_id);
        result
    }

    /// Send the parts, check the whole file's sha256, then complete the upload.
    async fn multipart_body(&self, req: &PutRequest, path: &std::path::Path, upload_id: &str, progress: &Item) -> Result<PutOutcome> {
        let parts = self.send_parts(req, path, upload_id, progress).await?;
        self.complete_multipart(req, upload_id, parts).await
    }

    /// Read, hash and send every part (reads in order, sends in parallel within the transfer
    /// permits); the parts in order, once the whole file's sha256 is the manifest's.
    async fn send_parts(&self, req: &PutRequest, path: &std::path::Path, upload_id: &str, progress: &Item) -> Result<Vec<CompletedPart>> {
        let part_size = self.part_size.max(5 * 1024 * 1024);
        let nparts = req.size.div_ceil(part_size).max(1);
        let mut tasks: tokio::task::JoinSet<Result<(i32, CompletedPart, u64)>> = tokio::task::JoinSet::new();
        let mut hasher = Some(Sha256::new());
        let file = Arc::new(std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?);
        let mut parts = Vec::new();
        for i in 0..nparts {
            let permit = self.transfers.clone().acquire_owned().await.map_err(|_| Error::Interrupted)?;
            let offset = i * part_size;
            let len = part_size.min(req.size - offset);
            let f = file.clone();
            let mut h = hasher.take().expect("hasher");
            let p = path.to_path_buf();
            let (data, part_digest, h) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, Vec<u8>, Sha256)> {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; len as usize];
                f.read_exact_at(&mut buf, offset).map_err(|e| Error::io(&p, "read", e))?;
                h.update(&buf);
                let d = Sha256::digest(&buf).to_vec();
                Ok((buf, d, h))
            })
            .await
            .map_err(|e| Error::external(format!("read task failed: {e}")))??;
            hasher = Some(h);
            let client = self.client.clone();
            let (bucket, key, id) = (self.bucket.clone(), req.key.clone(), upload_id.to_string());
            let what = self.what(&format!("upload part {} of", i + 1), &req.key);
            let attempts = self.attempts;
            tasks.spawn(async move {
                let _permit = permit;
                let cs = b64(&part_digest);
                let n = data.len() as u64;
                let out = client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .part_number((i + 1) as i32)
                    .content_length(n as i64)
                    .checksum_sha256(cs.clone())
                    .body(ByteStream::from(data))
                    .send()
                    .await
                    .map_err(|e| describe(&e, &what, attempts))?;
                let part = CompletedPart::builder()
                    .part_number((i + 1) as i32)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .checksum_sha256(out.checksum_sha256().map(str::to_string).unwrap_or(cs))
                    .build();
                Ok(((i + 1) as i32, part, n))
            });
            while let Some(done) = tasks.try_join_next() {
                let (no, part, n) = done.map_err(|e| Error::external(format!("upload task failed: {e}")))??;
                progress.inc(n);
                parts.push((no, part));
            }
        }
        while let Some(done) = tasks.join_next().await {
            let (no, part, n) = done.map_err(|e| Error::external(format!("upload task failed: {e}")))??;
            progress.inc(n);
            parts.push((no, part));
        }
        let got = hex::encode(hasher.take().expect("hasher").finalize());
        if got != req.sha256 {
            return Err(refused_changed(&req.body, &req.key, &req.sha256, &got));
        }
        parts.sort_by_key(|(no, _)| *no);
        Ok(parts.into_iter().map(|(_, p)| p).collect())
    }

    /// Complete the upload (create-only in prod); an object already there is `Exists`.
    async fn complete_multipart(&self, req: &PutRequest, upload_id: &str, parts: Vec<CompletedPart>) -> Result<PutOutcome> {
        let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
        let mut op = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&req.key)
            .upload_id(upload_id)
            .multipart_upload(done);
        if req.create_only {
            op = op.if_none_match("*");
        }
        match op.send().await {
            Ok(_) => Ok(PutOutcome::Written),
            Err(e) if status(&e) == Some(412) || e.code() == Some("PreconditionFailed") => {
                self.abort(&req.key, upload_id).await;
                Ok(PutOutcome::Exists)
            }
            Err(e) if req.create_only && not_implemented(&e) => {
                self.abort(&req.key, upload_id).await;
                Err(no_conditional_writes(&self.uri(&req.key), "does not support"))
            }
            Err(e) if status(&e) == Some(200) => {
                // HTTP 200 with a body the SDK cannot parse (some S3-compatible servers, e.g. moto,
                // name the XML root differently). The object is checked instead: it counts as
                // written only if it holds exactly our size and sha256.
                tracing::debug!("complete multipart: unparsed 200 answer: {}", DisplayErrorContext(&e));
                match self.head(&req.key).await? {
                    // Size only here: the upload checks every object's bytes right after.
                    Some(r) if r.size == req.size => Ok(PutOutcome::Written),
                    _ => Err(describe(&e, &self.what("complete multipart upload of", &req.key), self.attempts)),
                }
            }
            Err(e) => Err(describe(&e, &self.what("complete multipart upload of", &req.key), self.attempts)),
        }
    }

    pub(super) async fn abort(&self, key: &str, upload_id: &str) {
        let r = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
        match r {
            Ok(_) => tracing::info!("aborted multipart upload of {key}"),
            Err(e) => {
                let msg = describe(&e, &self.what("abort multipart upload of", key), self.attempts);
                crate::progress::line(
                    "upload",
                    &format!("warning: {msg} (upload id {upload_id}; a bucket lifecycle rule for incomplete uploads cleans it)"),
                );
            }
        }
    }
}
