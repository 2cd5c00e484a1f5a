//! A test-only in-memory store (`mem://NAME`): shows that adding a store is this one file plus
//! one arm in [`super::backend`]. The upload tests also use [`MemStore`] to play races and
//! failures.

use super::{Backend, Body, PutOutcome, PutRequest, RemoteObject, Store, StoreConfig, StoreUrl};
use crate::error::{Error, Result};
use crate::progress::Item;
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// `mem://NAME[/PREFIX/]`.
pub struct MemBackend;

impl Backend for MemBackend {
    fn parse(&self, rest: &str) -> std::result::Result<(String, String), String> {
        let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_end_matches('/');
        Ok((
            name.to_string(),
            if prefix.is_empty() { String::new() } else { format!("{prefix}/") },
        ))
    }
    fn open<'a>(&'a self, url: &'a StoreUrl, _cfg: &'a StoreConfig) -> BoxFuture<'a, Result<Arc<dyn Store>>> {
        let s = MemStore {
            name: url.location.clone(),
            ..Default::default()
        };
        Box::pin(async move { Ok(Arc::new(s) as Arc<dyn Store>) })
    }
}

/// Objects in memory; `race` keys get written by "someone else" between our HEAD and our PUT;
/// `fail` keys fail to upload; `calls` records every write.
#[derive(Default)]
pub struct MemStore {
    pub name: String,
    pub objects: Mutex<BTreeMap<String, Vec<u8>>>,
    pub race: Vec<String>,
    pub fail: Vec<String>,
    pub calls: Mutex<Vec<String>>,
}

impl Store for MemStore {
    fn describe(&self) -> String {
        format!("mem://{}", self.name)
    }
    fn uri(&self, key: &str) -> String {
        format!("mem://{}/{key}", self.name)
    }
    fn check_access(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<RemoteObject>>> {
        Box::pin(async move {
            Ok(self.objects.lock().unwrap().get(key).map(|d| RemoteObject {
                size: d.len() as u64,
                sha256: Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(d))),
                checksum: None,
            }))
        })
    }
    fn put<'a>(&'a self, req: &'a PutRequest, _p: &'a Item) -> BoxFuture<'a, Result<PutOutcome>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(req.key.clone());
            if self.fail.contains(&req.key) {
                return Err(Error::external(format!("{}: HTTP 503 after 6 attempts", req.key)));
            }
            let mut m = self.objects.lock().unwrap();
            if self.race.contains(&req.key) {
                m.insert(req.key.clone(), b"someone else".to_vec());
            }
            if req.create_only && m.contains_key(&req.key) {
                return Ok(PutOutcome::Exists);
            }
            let data = match &req.body {
                Body::Bytes(b) => b.to_vec(),
                Body::File(p) => std::fs::read(p).map_err(|e| Error::io(p, "read", e))?,
            };
            m.insert(req.key.clone(), data);
            Ok(PutOutcome::Written)
        })
    }
    fn hash_object<'a>(&'a self, key: &'a str, _p: Option<&'a Item>) -> BoxFuture<'a, Result<Option<(String, u64)>>> {
        Box::pin(async move { Ok(self.head(key).await?.and_then(|r| r.sha256.map(|s| (s, r.size)))) })
    }
    fn get_small<'a>(&'a self, key: &'a str, _l: u64) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move { Ok(self.objects.lock().unwrap().get(key).cloned()) })
    }
    fn abort_in_flight(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
