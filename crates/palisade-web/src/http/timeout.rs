//! The request deadline, armed only when it can matter.
//!
//! `tower_http`'s timeout makes a timer for every request before the handler runs; most requests (probes, cached
//! pages, refusals) are answered in their first poll and never needed it, yet each timer took a clone of the
//! runtime's handle and a place in the timer wheel. Here the handler's first poll comes first, and the timer (to
//! the same deadline, counted from when the request arrived) is made only if the handler is still pending. From
//! then on the deadline is checked before the handler, as `tower_http` does, and outside tokio's cooperative
//! budget (`tokio::task::unconstrained`): a handler that spends the task's whole budget in every poll (a large
//! result read from a ready socket) cannot keep the timer from firing. A request past its deadline is answered
//! 408, which the error-page layer renders.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::task::Unconstrained;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

/// Stops a request that takes longer than its limit with 408.
#[derive(Debug, Clone, Copy)]
pub struct LazyTimeoutLayer {
    limit: Duration,
}

impl LazyTimeoutLayer {
    #[must_use]
    pub fn new(limit: Duration) -> Self {
        LazyTimeoutLayer { limit }
    }
}

impl<S> Layer<S> for LazyTimeoutLayer {
    type Service = LazyTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LazyTimeout { inner, limit: self.limit }
    }
}

/// The service [`LazyTimeoutLayer`] makes.
#[derive(Debug, Clone)]
pub struct LazyTimeout<S> {
    inner: S,
    limit: Duration,
}

impl<S, B> Service<Request<B>> for LazyTimeout<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ResponseFuture { inner: self.inner.call(req), deadline: Instant::now() + self.limit, sleep: None }
    }
}

pin_project! {
    /// The handler's future, with the deadline's timer once the handler has had to wait.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        deadline: Instant,
        #[pin]
        sleep: Option<Unconstrained<Sleep>>,
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // Past the deadline the handler is not run again.
        if let Some(sleep) = this.sleep.as_mut().as_pin_mut()
            && sleep.poll(cx).is_ready()
        {
            return Poll::Ready(Ok(StatusCode::REQUEST_TIMEOUT.into_response()));
        }
        if let Poll::Ready(out) = this.inner.poll(cx) {
            return Poll::Ready(out);
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::task::unconstrained(tokio::time::sleep_until(*this.deadline))));
            // Polled once to register its wake-up (or to answer now if the deadline has passed already).
            if let Some(sleep) = this.sleep.as_mut().as_pin_mut()
                && sleep.poll(cx).is_ready()
            {
                return Poll::Ready(Ok(StatusCode::REQUEST_TIMEOUT.into_response()));
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    fn service(
        work: Duration,
    ) -> LazyTimeout<
        impl Service<Request<()>, Response = Response, Error = std::convert::Infallible, Future: Send> + Clone,
    > {
        LazyTimeoutLayer::new(Duration::from_millis(50)).layer(tower::service_fn(move |_req: Request<()>| async move {
            tokio::time::sleep(work).await;
            Ok::<_, std::convert::Infallible>(StatusCode::OK.into_response())
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_within_its_limit_is_answered_and_a_slow_one_gets_408() {
        let fast = service(Duration::ZERO).oneshot(Request::new(())).await.unwrap();
        assert_eq!(fast.status(), StatusCode::OK);
        let waits = service(Duration::from_millis(30)).oneshot(Request::new(())).await.unwrap();
        assert_eq!(waits.status(), StatusCode::OK, "pending, then done before the deadline");
        let slow = service(Duration::from_secs(5)).oneshot(Request::new(())).await.unwrap();
        assert_eq!(slow.status(), StatusCode::REQUEST_TIMEOUT);
    }

    /// A handler that spends tokio's whole cooperative budget in every poll still meets its deadline (the timer is
    /// polled outside the budget). Real time, 50 ms: the outer limit only turns a hang into a failure.
    #[tokio::test]
    async fn a_handler_that_uses_up_the_budget_in_every_poll_still_times_out() {
        let svc =
            LazyTimeoutLayer::new(Duration::from_millis(50)).layer(tower::service_fn(|_req: Request<()>| async {
                loop {
                    tokio::task::consume_budget().await;
                }
                #[allow(unreachable_code)]
                Ok::<_, std::convert::Infallible>(StatusCode::OK.into_response())
            }));
        let res = tokio::time::timeout(Duration::from_secs(10), svc.oneshot(Request::new(()))).await;
        assert_eq!(res.expect("the deadline fired").unwrap().status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_arrival_not_from_the_first_wait() {
        // Called, then left unpolled for 40 ms: 20 ms of work overruns the 50 ms counted from the call.
        let mut svc = service(Duration::from_millis(20));
        let fut = svc.call(Request::new(()));
        tokio::time::advance(Duration::from_millis(40)).await;
        assert_eq!(fut.await.unwrap().status(), StatusCode::REQUEST_TIMEOUT);
    }
}
