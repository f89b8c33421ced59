//! The Runtime API side of the emulator: `/next` (an invocation's headers as RAPID sets them),
//! the response and error posts (buffered and streamed), SnapStart's restore routes and the
//! extension registration, each answered with RAPID's status and error body.

use super::*;

impl Emulator {
    async fn next(&self) -> Response<Body> {
        let delivery = loop {
            let notified = self.inner.queued.notified();
            if let Some(d) = self.lock().next(epoch_ms()) {
                break d;
            }
            notified.await;
        };
        self.render(delivery)
    }

    fn render(&self, delivery: Delivery) -> Response<Body> {
        let r = delivery.request;
        let mut response = respond(StatusCode::OK, r.body);
        let hm = response.headers_mut();
        let mut set = |name: &'static str, value: Option<String>| {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                hm.insert(name, v);
            }
        };
        set(h::REQUEST_ID, Some(delivery.id));
        set(h::DEADLINE_MS, Some(delivery.deadline_ms.to_string()));
        set(
            h::FUNCTION_ARN,
            Some(self.inner.options.function_arn.clone()),
        );
        set(h::TRACE_ID, r.trace_id);
        set(h::CLIENT_CONTEXT, r.client_context);
        set(h::COGNITO_IDENTITY, r.cognito_identity);
        set(h::TENANT_ID, r.tenant_id);
        set(h::INVOCATION_ID, r.invocation_id);
        set(
            h::CONTENT_TYPE,
            Some(r.content_type.unwrap_or_else(|| "application/json".into())),
        );
        response
    }

    pub(super) async fn runtime_route(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        if let Some(ext) = path.strip_prefix("/2020-01-01/extension/") {
            return self.extension_route(ext, &method, req.headers()).await;
        }
        let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
            return api_error(StatusCode::NOT_FOUND, "NotFound", "no such endpoint");
        };
        if method == Method::GET && rest == "invocation/next" {
            return self.next().await;
        }
        if rest.starts_with("restore/") && !self.inner.options.snap_start {
            return api_error(StatusCode::NOT_FOUND, "NotFound", "no such endpoint");
        }
        if method == Method::GET && rest == "restore/next" {
            info!("SnapStart (simulated): the snapshot is taken and restored now");
            return respond(StatusCode::OK, Bytes::new());
        }
        if method != Method::POST {
            return api_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "use POST",
            );
        }
        self.post_route(rest, req).await
    }

    /// `POST /runtime/...`: an answer, an init error or a restore error.
    async fn post_route(&self, rest: &str, req: Request<Incoming>) -> Response<Body> {
        let content_type = header(req.headers(), "content-type");
        if let Some(mode) = header(req.headers(), names::RESPONSE_MODE) {
            let id = rest
                .strip_prefix("invocation/")
                .and_then(|r| r.strip_suffix("/response"));
            return match (id, mode.as_str()) {
                (Some(id), "streaming") => {
                    self.stream_post(id, content_type, req.into_body()).await
                }
                (Some(_), _) => api_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidFunctionResponseMode",
                    "Invalid function response mode",
                ),
                (None, _) => api_error(StatusCode::NOT_FOUND, "NotFound", "no such endpoint"),
            };
        }
        let Ok(body) = Limited::new(req.into_body(), MAX_POST_BYTES)
            .collect()
            .await
        else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "TruncatedHTTPRequest",
                "could not read the body",
            );
        };
        let body = body.to_bytes();
        let post = match rest
            .strip_prefix("invocation/")
            .and_then(|r| r.rsplit_once('/'))
        {
            // A failed restore ends the runtime as a failed init does: waiting callers get it.
            _ if rest == "init/error" || rest == "restore/error" => Post::InitError { body },
            Some((id, "response")) => Post::Response {
                id,
                content_type,
                body,
            },
            Some((id, "error")) => Post::Error { id, body },
            _ => return api_error(StatusCode::NOT_FOUND, "NotFound", "no such endpoint"),
        };
        let (verdict, replies) = self.lock().post(post);
        for (reply, outcome) in replies {
            let _ = reply.send((outcome, None));
        }
        verdict_response(verdict)
    }

    /// A streamed response: the caller gets it at its first byte and then each frame as it
    /// comes (a slow caller slows the runtime down, through the bounded queue); a caller that
    /// went away lets the runtime finish unheard.
    async fn stream_post(
        &self,
        id: &str,
        content_type: Option<String>,
        mut body: Incoming,
    ) -> Response<Body> {
        let content_type = content_type.unwrap_or_else(|| "application/octet-stream".into());
        let (verdict, replies) = self.lock().post(Post::StreamStart { id, content_type });
        if verdict != Verdict::Accepted {
            return verdict_response(verdict);
        }
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let mut rx = Some(rx);
        for (reply, outcome) in replies {
            let _ = reply.send((outcome, rx.take()));
        }
        while let Some(frame) = body.frame().await {
            match frame {
                // A send fails only when nobody listens any more: keep reading, unheard.
                Ok(frame) => {
                    let _ = tx.send(frame).await;
                }
                Err(_) => {
                    return api_error(
                        StatusCode::BAD_REQUEST,
                        "TruncatedHTTPRequest",
                        "the streamed response was cut off",
                    )
                }
            }
        }
        verdict_response(Verdict::Accepted)
    }

    /// The Extensions API, enough for a runtime's no-op internal extension: register, then an
    /// `event/next` that only returns at shutdown (this emulator never sends events).
    async fn extension_route(
        &self,
        rest: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> Response<Body> {
        match (method, rest) {
            (&Method::POST, "register") => {
                let name = header(headers, names::EXTENSION_NAME).unwrap_or_default();
                let registered = self.lock().register_extension(&name);
                match registered {
                    Ok(()) => {
                        let mut r = respond(
                            StatusCode::OK,
                            r#"{"functionName":"","functionVersion":"$LATEST","handler":""}"#,
                        );
                        let id = uuid::Uuid::new_v4().to_string();
                        if let Ok(v) = HeaderValue::from_str(&id) {
                            r.headers_mut().insert(names::EXTENSION_ID, v);
                        }
                        r
                    }
                    Err(e) => {
                        let (kind, message) = match e {
                            RegisterError::NoName => (
                                "Extension.InvalidExtensionName",
                                "missing Lambda-Extension-Name",
                            ),
                            RegisterError::Duplicate => (
                                "Extension.AlreadyRegistered",
                                "an extension with this name is registered already",
                            ),
                            RegisterError::AfterInit => (
                                "Extension.RegistrationAfterInit",
                                "register before the runtime's first /next",
                            ),
                        };
                        warn!(extension = %name, "refused an extension registration: {message}");
                        api_error(StatusCode::FORBIDDEN, kind, message)
                    }
                }
            }
            (&Method::GET, "event/next") if header(headers, names::EXTENSION_ID).is_some() => {
                std::future::pending().await
            }
            (&Method::GET, "event/next") => api_error(
                StatusCode::FORBIDDEN,
                "Extension.MissingExtensionIdentifier",
                "missing Lambda-Extension-Identifier",
            ),
            _ => api_error(StatusCode::NOT_FOUND, "NotFound", "no such endpoint"),
        }
    }
}

fn verdict_response(verdict: Verdict) -> Response<Body> {
    match verdict {
        Verdict::Accepted => respond(StatusCode::ACCEPTED, r#"{"status":"OK"}"#),
        Verdict::TooLarge => api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!("Exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."),
        ),
        Verdict::TooLate => api_error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition is not allowed",
        ),
        Verdict::UnknownId => api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        ),
    }
}
