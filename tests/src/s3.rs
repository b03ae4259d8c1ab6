use std::path::Path;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A real S3 server (s3s-fs: signatures, ranged GETs, listing) over a
/// folder, on a free loopback port. Buckets are the folder's subfolders.
/// It records every request so tests can see which objects were read.
pub struct S3Server {
    pub endpoint: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

pub const ACCESS_KEY: &str = "tributary-test-access";
pub const SECRET_KEY: &str = "tributary-test-secret-9f8e7d";

#[derive(Clone)]
struct RecordingService {
    inner: S3Service,
    requests: Arc<Mutex<Vec<String>>>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for RecordingService {
    type Response = <S3Service as hyper::service::Service<hyper::Request<Incoming>>>::Response;
    type Error = <S3Service as hyper::service::Service<hyper::Request<Incoming>>>::Error;
    type Future = <S3Service as hyper::service::Service<hyper::Request<Incoming>>>::Future;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(format!("{} {}", request.method(), request.uri()));
        }
        hyper::service::Service::call(&self.inner, request)
    }
}

impl S3Server {
    /// Serves `root` with the test credentials on a free port.
    pub async fn start(root: &Path) -> Self {
        Self::start_on(root, "127.0.0.1:0").await
    }

    /// Serves `root` on `addr` (for a test that brings a server back).
    pub async fn start_on(root: &Path, addr: &str) -> Self {
        let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let service = RecordingService {
            inner: builder.build(),
            requests: requests.clone(),
        };
        let listener = TcpListener::bind(addr).await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                // Without TCP_NODELAY every small GET waits ~30 ms for Nagle.
                let _ = socket.set_nodelay(true);
                let connection = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        Self {
            endpoint,
            requests,
            task,
        }
    }

    /// Requests seen so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn clear_requests(&self) {
        if let Ok(mut requests) = self.requests.lock() {
            requests.clear();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
