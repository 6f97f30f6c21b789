//! A company's outbound proxy: `CONNECT host:port` tunnels, and absolute-form requests
//! (`GET http://host/path`) forwarded. It records where each request was going.

use std::sync::{Arc, Mutex};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

pub struct ForwardProxy {
    pub port: u16,
    destinations: Arc<Mutex<Vec<String>>>,
    tunnels: Arc<std::sync::atomic::AtomicUsize>,
    accept: JoinHandle<()>,
}

impl ForwardProxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let destinations = Arc::new(Mutex::new(Vec::new()));
        let tunnels = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (seen, tunneled) = (destinations.clone(), tunnels.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (seen, tunneled) = (seen.clone(), tunneled.clone());
                tokio::spawn(async move {
                    let _ = relay(client, seen, tunneled).await;
                });
            }
        });
        Self {
            port,
            destinations,
            tunnels,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many `CONNECT` tunnels were opened.
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `host:port` of every request that went through, in order.
    pub fn destinations(&self) -> Vec<String> {
        self.destinations.lock().unwrap().clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn relay(
    client: TcpStream,
    seen: Arc<Mutex<Vec<String>>>,
    tunnels: Arc<std::sync::atomic::AtomicUsize>,
) -> std::io::Result<()> {
    let mut client = BufReader::new(client);
    let mut request_line = String::new();
    client.read_line(&mut request_line).await?;
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if client.read_line(&mut line).await? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        // One request per connection to the target, so each is seen here.
        if !lower.starts_with("connection:") && !lower.starts_with("proxy-connection:") {
            head.push(line);
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        seen.lock().unwrap().push(target.to_owned());
        tunnels.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut upstream = TcpStream::connect(target).await?;
        client
            .get_mut()
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        let mut client = client.into_inner();
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    // Absolute form: http://host:port/path
    let rest = target.strip_prefix("http://").unwrap_or(target);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    seen.lock().unwrap().push(authority.to_owned());
    let mut upstream = TcpStream::connect(authority).await?;
    let path = if path.is_empty() { "/" } else { path };
    let version = parts.next().unwrap_or("HTTP/1.1");
    let mut forwarded = format!("{method} {path} {version}\r\n");
    for line in head {
        forwarded.push_str(&line);
    }
    forwarded.push_str("connection: close\r\n\r\n");
    upstream.write_all(forwarded.as_bytes()).await?;
    // The body, if any, and the answer.
    let (mut from_client, mut to_client) = tokio::io::split(client);
    let (mut from_upstream, mut to_upstream) = upstream.into_split();
    let upload = async {
        let mut buffer = [0u8; 8192];
        loop {
            let n = from_client.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            to_upstream.write_all(&buffer[..n]).await?;
        }
        std::io::Result::Ok(())
    };
    let download = tokio::io::copy(&mut from_upstream, &mut to_client);
    tokio::select! {
        _ = upload => {}
        _ = download => {}
    }
    Ok(())
}
