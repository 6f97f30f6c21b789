//! A TCP proxy the tests can cut and restore, to stand for a network failure between the
//! service and PostgreSQL or Kafka.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use std::time::Duration;

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

pub struct TcpProxy {
    pub port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Set: connections are accepted and reset at once, as by a load balancer whose
    /// backend is gone.
    resetting: Arc<AtomicBool>,
}

impl TcpProxy {
    /// Listens on a free local port and forwards to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            port: listener.local_addr().unwrap().port(),
            target: target.to_owned(),
            tasks: Arc::default(),
            resetting: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Drops every connection and stops listening: clients see resets and refusals.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Drops every connection but keeps listening: each new one is accepted, then reset
    /// before a byte is read from it.
    pub fn accept_and_reset(&self) {
        self.resetting.store(true, Ordering::SeqCst);
        let mut tasks = self.tasks.lock().unwrap();
        // The first task is the accept loop; the rest are established pipes.
        for pipe in tasks.drain(1..) {
            pipe.abort();
        }
    }

    /// Forwards new connections again after [`accept_and_reset`](Self::accept_and_reset).
    pub fn forward_again(&self) {
        self.resetting.store(false, Ordering::SeqCst);
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        let resetting = self.resetting.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if resetting.load(Ordering::SeqCst) {
                    // Linger 0: closing sends RST, not FIN.
                    let _ = socket2::SockRef::from(&inbound).set_linger(Some(Duration::ZERO));
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }
}
