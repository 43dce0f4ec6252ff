//! Helpers: a signed HTTP client for the emulator and fixed test times.

use chrono::{DateTime, TimeZone as _, Utc};
use http::Method;
use oci_emulator::{EmulatorHandle, RequestSigner};

/// A fixed "now" for manual-clock tests, 30 seconds past a minute.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 30).unwrap()
}

/// Rounds down to the minute (ListEvents windows must be on minute boundaries).
pub(crate) fn minute_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(60), 0).unwrap()
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: bytes::Bytes,
}

impl Resp {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
    pub(crate) fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_string()
    }
}

/// Signs every request with a registered test key, dated by the emulator's clock.
pub(crate) struct Client<'a> {
    pub(crate) emu: &'a EmulatorHandle,
    pub(crate) signer: RequestSigner,
    pub(crate) http: reqwest::Client,
}

impl<'a> Client<'a> {
    pub(crate) fn new(emu: &'a EmulatorHandle) -> Self {
        Self {
            emu,
            signer: emu.test_signer().unwrap(),
            // No pooling: fault tests reset connections and must not poison the next request.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
        }
    }

    pub(crate) fn query(path: &str, pairs: &[(&str, &str)]) -> String {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{q}")
        }
    }

    /// Sends a signed request; returns the error instead of panicking on transport failures.
    pub(crate) async fn try_send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&[u8]>,
        extra: &[(&str, &str)],
        sign_body: bool,
    ) -> Result<Resp, reqwest::Error> {
        let url = reqwest::Url::parse(&format!("{}{path_and_query}", self.emu.base_url())).unwrap();
        // Sign the target exactly as it will go on the wire.
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let mut req = self.http.request(method.clone(), url);
        for (k, v) in self
            .signer
            .sign(&method, &target, body, self.emu.now(), sign_body)
        {
            req = req.header(k, v);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b.to_vec());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    /// Sends `GET path` signed by `key` (registered or not) as `key_id`; returns the status.
    pub(crate) async fn get_signed_by(
        &self,
        key: &oci_emulator::TestKey,
        key_id: &str,
        path: &str,
    ) -> u16 {
        let mut req = self.http.get(format!("{}{path}", self.emu.base_url()));
        for (k, v) in key.sign_request(
            key_id,
            &Method::GET,
            &self.emu.host(),
            path,
            self.emu.now(),
            None,
            "",
            true,
        ) {
            req = req.header(k, v);
        }
        req.send().await.unwrap().status().as_u16()
    }

    pub(crate) async fn get(&self, path_and_query: &str) -> Resp {
        self.try_send(Method::GET, path_and_query, None, &[], true)
            .await
            .unwrap()
    }

    /// Follows `opc-next-page` from `path` with `pairs` and returns `field` of every item of
    /// every page, in order; `between` runs before each next page is asked for.
    pub(crate) async fn collect_pages(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        field: &str,
        mut between: impl FnMut(),
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut q = pairs.to_vec();
            if let Some(p) = &page {
                q.push(("page", p.as_str()));
            }
            let r = self.get(&Self::query(path, &q)).await;
            assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
            for item in r.json().as_array().unwrap() {
                out.push(item[field].as_str().unwrap().to_string());
            }
            match r.header("opc-next-page") {
                Some(p) => page = Some(p),
                None => return out,
            }
            between();
        }
    }

    /// Pages through ListEvents and returns the event ids in order.
    pub(crate) async fn list_event_ids(
        &self,
        compartment: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Vec<String> {
        self.list_event_ids_with(compartment, (start, end), || {})
            .await
    }

    /// Like [`Self::list_event_ids`], running `between` before each next page (a test moves
    /// the clock there).
    pub(crate) async fn list_event_ids_with(
        &self,
        compartment: &str,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        between: impl FnMut(),
    ) -> Vec<String> {
        let (s, e) = (rfc3339(start), rfc3339(end));
        let pairs = [
            ("compartmentId", compartment),
            ("startTime", s.as_str()),
            ("endTime", e.as_str()),
        ];
        self.collect_pages("/20190901/auditEvents", &pairs, "eventId", between)
            .await
    }
}

/// Plain, unsigned HTTP to the control API.
pub(crate) async fn control(
    emu: &EmulatorHandle,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Resp {
    let http = reqwest::Client::new();
    let mut req = http.request(method, format!("{}{path}", emu.base_url()));
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    Resp {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap(),
    }
}
