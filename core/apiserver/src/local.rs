//! The API served inside the process: the components `skiff up` runs beside the server
//! (controllers, scheduler, kubelets, add-ons) call the router directly, which spares every
//! request the TLS encryption, the HTTP framing and the socket copies on both ends — a
//! sizeable share of the CPU a busy cluster spends when everything runs in one process.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::HttpBody;
use axum::response::Response;
use bytes::Bytes;
use futures::FutureExt;
use skiff_api::Status;

use crate::auth::{PeerIdentity, User};
use crate::response;

/// A `tower` service that answers requests as the server would, as one fixed user.
///
/// Requests carry a path (`/api/v1/pods`), not a full URL. Connection upgrades (exec,
/// attach, port-forward) need a connection and are not available through it.
#[derive(Clone)]
pub struct LocalService {
    router: Router,
    identity: PeerIdentity,
    lean: bool,
    /// The `User-Agent` of requests that carry none.
    agent: Option<http::HeaderValue>,
}

/// Marks a request whose answers leave out `metadata.managedFields`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lean;

impl std::fmt::Debug for LocalService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalService")
            .field("user", &self.identity.0)
            .finish()
    }
}

impl LocalService {
    pub(crate) fn new(router: Router, user: User) -> Self {
        Self {
            router,
            identity: PeerIdentity(Some(user)),
            lean: false,
            agent: None,
        }
    }

    /// The same service, whose answers (objects read or written, lists, watch events)
    /// leave out `metadata.managedFields`: for components that never read field ownership
    /// (informers, schedulers, kubelets, controllers). In a pod that bookkeeping is four
    /// parts in ten of the bytes and most of the small maps, and every in-process watcher
    /// would decode it for each change only to drop it. The server keeps recording it: an
    /// update without it keeps the stored one.
    pub fn lean(mut self) -> Self {
        self.lean = true;
        self
    }

    /// The same service, naming its caller `agent` (e.g. `skiff-scheduler`) in the
    /// `User-Agent` of requests that have none: the server records it as the field manager
    /// of what the caller writes, as it does for any client, rather than `unknown`.
    pub fn user_agent(mut self, agent: &'static str) -> Self {
        self.agent = Some(http::HeaderValue::from_static(agent));
        self
    }
}

impl<B> tower::Service<http::Request<B>> for LocalService
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    /// The handler runs in the caller's task: a panic in it becomes a 500 for that request
    /// (as it would end only its connection over HTTPS) instead of unwinding into the caller.
    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.identity.clone());
        if self.lean {
            req.extensions_mut().insert(Lean);
        }
        if let Some(agent) = &self.agent {
            req.headers_mut()
                .entry(http::header::USER_AGENT)
                .or_insert_with(|| agent.clone());
        }
        let answer = tower::Service::<http::Request<B>>::call(&mut self.router, req);
        Box::pin(async move {
            match AssertUnwindSafe(answer).catch_unwind().await {
                Ok(answer) => answer,
                Err(_) => Ok(response::status(&Status::internal(
                    "the API server failed while serving this request",
                ))),
            }
        })
    }
}
