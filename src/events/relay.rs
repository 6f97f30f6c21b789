//! The outbox relay (REQ-007): publishes unpublished `outbox` rows to Kafka in `id` order
//! with an idempotent, `acks=all` producer, keyed by `run_id` with an `event_type` header,
//! and stamps `published_at` only for rows the broker confirmed. Several replicas may run
//! it: each pass takes a transaction-scoped advisory lock, so one replica publishes at a
//! time and rows keep their order.

use std::time::Duration;

use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer},
};
use sqlx::{FromRow, PgPool};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{KafkaCredentials, KafkaSecurity},
    secrets::Secrets,
    telemetry::Metrics,
};

/// The topics of CONTRACT "Domain events".
pub const TOPICS: [&str; 3] = ["coffee.orders", "coffee.assignments", "coffee.completions"];
const PARTITIONS: i32 = 3;
/// Any number: it only has to be the same in every replica.
const LEADER_LOCK: &str = "coffeebuddy:outbox-relay";
/// How long a pass under way may still run once shutdown is asked for. With Kafka away a
/// pass spends up to a minute on retries, longer than a pod is given to stop (CONTRACT:
/// the pool closes within 10 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// The last flush at shutdown. Every pass awaits its own sends, so only the sends of a pass
/// cut short can still be in flight, and their rows go out again after the restart anyway.
const FINAL_FLUSH: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub brokers: String,
    pub create_topics: bool,
    /// Rows per pass.
    pub batch_size: i64,
    /// Pause when the outbox is empty.
    pub idle_poll: Duration,
    /// A row failing this many more times waits for the next pass (REQ-007: 3, 1 s apart).
    pub retries: u32,
    pub retry_delay: Duration,
    /// How long librdkafka keeps trying one send (it retries internally, idempotently).
    pub message_timeout: Duration,
    /// TLS and SASL (`KAFKA_SECURITY_PROTOCOL` and the rest).
    pub security: KafkaSecurity,
}

impl RelaySettings {
    pub fn new(brokers: String, create_topics: bool) -> Self {
        Self {
            brokers,
            create_topics,
            batch_size: 500,
            idle_poll: Duration::from_millis(500),
            retries: 3,
            retry_delay: Duration::from_secs(1),
            message_timeout: Duration::from_secs(10),
            security: KafkaSecurity::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What one relay pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Rows the broker confirmed.
    pub published: usize,
    /// A row failed every retry; it, and the later rows the broker did not take, wait for
    /// the next pass.
    pub gave_up: bool,
}

#[derive(Debug, FromRow)]
struct OutboxRow {
    id: i64,
    event_type: String,
    topic: String,
    message_key: String,
    payload: serde_json::Value,
}

pub struct Relay {
    pool: PgPool,
    /// Replaced after a fatal producer error (librdkafka: the instance is unusable then),
    /// and when Vault rotates the SASL credentials it was made with.
    producer: std::sync::Mutex<(FutureProducer, Option<KafkaCredentials>)>,
    metrics: Metrics,
    settings: RelaySettings,
    /// Where Vault's SASL credentials arrive (`coffeebuddy/kafka`), if it supplies them.
    vault_credentials: Option<Secrets>,
}

impl Relay {
    pub fn new(
        pool: PgPool,
        metrics: Metrics,
        settings: RelaySettings,
    ) -> Result<Self, RelayError> {
        let credentials = settings.security.credentials.clone();
        let producer = producer(&settings, credentials.as_ref())?;
        Ok(Self {
            pool,
            producer: std::sync::Mutex::new((producer, credentials)),
            metrics,
            settings,
            vault_credentials: None,
        })
    }

    /// Takes SASL credentials from `secrets` as Vault supplies and rotates them.
    pub fn with_vault_credentials(mut self, secrets: Secrets) -> Self {
        self.vault_credentials = Some(secrets);
        self
    }

    /// The SASL credentials to use now: Vault's latest, else the environment's.
    fn credentials(&self) -> Option<KafkaCredentials> {
        self.vault_credentials
            .as_ref()
            .and_then(Secrets::kafka_credentials)
            .or_else(|| self.settings.security.credentials.clone())
    }

    /// The producer, made again first if the credentials it was made with were rotated.
    fn current_producer(&self) -> FutureProducer {
        let credentials = self.credentials();
        let mut current = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        if current.1 != credentials {
            match producer(&self.settings, credentials.as_ref()) {
                Ok(fresh) => {
                    *current = (fresh, credentials);
                    tracing::info!("Kafka SASL credentials rotated; a new producer uses them");
                }
                Err(err) => {
                    tracing::error!(error = %err, "rotated Kafka credentials are unusable");
                }
            }
        }
        current.0.clone()
    }

    /// Replaces the producer after a pass that gave up on a row. An idempotent producer
    /// whose messages timed out must bump its epoch, and a broker may answer that with
    /// `ProducerFenced` for good (tansu does); a new producer gets a new id. The rows it
    /// failed never reached the broker and are still unpublished, so nothing is duplicated.
    fn renew_producer(&self) {
        let credentials = self.credentials();
        match producer(&self.settings, credentials.as_ref()) {
            Ok(fresh) => {
                *self.producer.lock().unwrap_or_else(|e| e.into_inner()) = (fresh, credentials);
                tracing::info!("replaced the Kafka producer after a failed pass");
            }
            Err(err) => tracing::error!(error = %err, "could not replace the Kafka producer"),
        }
    }

    /// Creates the three topics with 3 partitions; existing ones are left alone.
    pub async fn create_topics(&self) -> Result<(), RelayError> {
        let credentials = self.credentials();
        let admin: AdminClient<DefaultClientContext> =
            client_config(&self.settings, credentials.as_ref()).create()?;
        let topics: Vec<NewTopic> = TOPICS
            .iter()
            // -1: the broker's default replication factor (KIP-464).
            .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(-1)))
            .collect();
        let options = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(10)))
            .request_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&topics, &options).await? {
            match result {
                Ok(topic) => tracing::info!(topic, "created Kafka topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(KafkaError::AdminOp(code).into()).inspect_err(|_: &RelayError| {
                        tracing::warn!(topic, %code, "could not create Kafka topic")
                    });
                }
            }
        }
        Ok(())
    }

    /// Publishes until `shutdown`, then lets the pass under way finish (for at most
    /// [`SHUTDOWN_GRACE`]) and flushes.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.settings.create_topics {
            tokio::select! {
                created = self.create_topics() => if let Err(err) = created {
                    tracing::warn!(error = %err, "could not create the Kafka topics; publishing anyway");
                },
                _ = shutdown.cancelled() => {}
            }
        }
        tracing::info!(brokers = %self.settings.brokers, "outbox relay started");
        while !shutdown.is_cancelled() {
            let Some(outcome) = self.pass_unless_stopped(&shutdown).await else {
                break;
            };
            let published = match outcome {
                Ok(Pass { published, gave_up }) => {
                    if gave_up {
                        self.renew_producer();
                    }
                    published
                }
                Err(err) => {
                    tracing::warn!(error = %err, "outbox relay pass failed");
                    0
                }
            };
            if published < self.settings.batch_size as usize {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(self.settings.idle_poll) => {}
                }
            }
        }
        let _ = self.current_producer().flush(FINAL_FLUSH);
        tracing::info!("outbox relay stopped");
    }

    /// A pass, cut short [`SHUTDOWN_GRACE`] after `shutdown` (`None` then). A pass cut
    /// short rolls back: its rows stay unpublished and go out after the restart, so a row
    /// the broker took in it is sent again; consumers drop the repeat by its `event_id`.
    async fn pass_unless_stopped(
        &self,
        shutdown: &CancellationToken,
    ) -> Option<Result<Pass, RelayError>> {
        let pass = self.publish_pass();
        tokio::pin!(pass);
        tokio::select! {
            outcome = &mut pass => return Some(outcome),
            _ = shutdown.cancelled() => {}
        }
        match tokio::time::timeout(SHUTDOWN_GRACE, pass).await {
            Ok(outcome) => Some(outcome),
            Err(_) => {
                tracing::warn!(
                    "stopped in the middle of an outbox pass; its rows go out after the restart"
                );
                None
            }
        }
    }

    /// One pass: publishes up to a batch of rows in order.
    pub async fn publish_pass(&self) -> Result<Pass, RelayError> {
        let mut tx = self.pool.begin().await?;
        let leader = sqlx::query_scalar!(
            r#"SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS "leader!""#,
            LEADER_LOCK,
        )
        .fetch_one(&mut *tx)
        .await?;
        if !leader {
            return Ok(Pass::default());
        }
        let rows = sqlx::query_as!(
            OutboxRow,
            "SELECT id, event_type, topic, message_key, payload FROM outbox
             WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self.settings.batch_size,
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(Pass::default());
        }
        // Queued into librdkafka in id order; the idempotent producer keeps that order
        // per partition, and a run's events share a key, hence a partition.
        let producer = self.current_producer();
        let first_tries =
            futures::future::join_all(rows.iter().map(|row| send(&producer, row, &self.settings)))
                .await;
        // Every row the broker took is stamped, whatever happened to the others: a row
        // left unstamped would be sent again next pass. A failed row is retried in id
        // order until one fails every retry; the broker is then most likely away, and the
        // failed rows after it wait for the next pass instead of each spending its retries.
        let mut confirmed = Vec::with_capacity(rows.len());
        let mut gave_up = false;
        for (row, outcome) in rows.iter().zip(first_tries) {
            let first_error = match outcome {
                Ok(()) => {
                    confirmed.push(row.id);
                    continue;
                }
                Err(_) if gave_up => continue,
                Err(first_error) => first_error,
            };
            match self.retry(&producer, row, first_error).await {
                Ok(()) => confirmed.push(row.id),
                Err(err) => {
                    self.metrics.kafka_publish_failed();
                    tracing::error!(outbox_id = row.id, event_type = %row.event_type, error = %err,
                        "event not published after retries; it waits for the next pass");
                    gave_up = true;
                }
            }
        }
        sqlx::query!(
            "UPDATE outbox SET published_at = NOW() WHERE id = ANY($1)",
            &confirmed,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Pass {
            published: confirmed.len(),
            gave_up,
        })
    }

    async fn retry(
        &self,
        producer: &FutureProducer,
        row: &OutboxRow,
        mut last: KafkaError,
    ) -> Result<(), KafkaError> {
        for attempt in 1..=self.settings.retries {
            tracing::warn!(outbox_id = row.id, attempt, error = %last, "retrying an event");
            tokio::time::sleep(self.settings.retry_delay).await;
            match send(producer, row, &self.settings).await {
                Ok(()) => return Ok(()),
                Err(err) => last = err,
            }
        }
        Err(last)
    }
}

async fn send(
    producer: &FutureProducer,
    row: &OutboxRow,
    settings: &RelaySettings,
) -> Result<(), KafkaError> {
    let payload = row.payload.to_string();
    let headers = OwnedHeaders::new().insert(Header {
        key: "event_type",
        value: Some(row.event_type.as_bytes()),
    });
    let record = FutureRecord::to(&row.topic)
        .key(&row.message_key)
        .payload(&payload)
        .headers(headers);
    producer
        .send(record, settings.message_timeout)
        .await
        .map(drop)
        .map_err(|(err, _)| err)
}

fn producer(
    settings: &RelaySettings,
    credentials: Option<&KafkaCredentials>,
) -> Result<FutureProducer, KafkaError> {
    client_config(settings, credentials)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set(
            "message.timeout.ms",
            settings.message_timeout.as_millis().to_string(),
        )
        .create()
}

/// The settings every client shares: brokers, and TLS and SASL with `credentials`.
fn client_config(settings: &RelaySettings, credentials: Option<&KafkaCredentials>) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("client.id", "coffeebuddy");
    let security = KafkaSecurity {
        credentials: credentials.cloned(),
        ..settings.security.clone()
    };
    for (key, value) in security.client_settings() {
        config.set(key, value);
    }
    config
}
