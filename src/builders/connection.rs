//! An authenticated SSH connection to a builder (russh): pinned host key, ed25519/ECDSA/RSA client
//! keys, `TCP_NODELAY`, keepalive and inactivity timeouts, a connect timeout covering TCP, handshake
//! and authentication, and optional jump hosts reached through a `direct-tcpip` channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{cipher, Preferred};

use super::config::{HostKeyPin, SshTarget, Timeouts};
use super::error::BuilderError;
use super::hostkey::{self, Verdict};

/// Ciphers in order of preference. AES-GCM first: with AES-NI it costs the least CPU per byte, and on
/// loopback CPU is the limit (test-infra notes: ≈ 301 MB/s with AES-256-GCM vs ≈ 236 MB/s with
/// chacha20-poly1305 for the same SFTP transfer); the 128-bit key runs 10 AES rounds instead of 14.
/// The rest keep russh's defaults for servers without GCM.
const CIPHERS: &[cipher::Name] = &[
    cipher::AES_128_GCM,
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_CTR,
    cipher::AES_128_CTR,
];
/// SSH channel window: large enough that one 1 GiB transfer is never window-bound on a LAN.
const WINDOW_SIZE: u32 = 16 * 1024 * 1024;
/// Largest SSH packet payload we accept; russh warns above 64 KiB.
const MAX_PACKET_SIZE: u32 = 65535;

/// The russh handler: checks the host key and remembers why it refused one.
struct Client {
    host: String,
    port: u16,
    pin: HostKeyPin,
    refused: Arc<Mutex<Option<Verdict>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let verdict = hostkey::verify(&self.pin, &self.host, self.port, key);
        let trusted = verdict == Verdict::Trusted;
        if !trusted {
            *self.refused.lock().expect("host-key slot") = Some(verdict);
        }
        Ok(trusted)
    }
}

/// A live, authenticated connection.
pub struct Connection {
    /// The builder's name, for errors.
    builder: String,
    /// The russh session handle.
    handle: Handle<Client>,
    /// The jump host's connection, kept open while this one lives.
    _jump: Option<Box<Connection>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("builder", &self.builder)
            .finish_non_exhaustive()
    }
}

fn russh_config(timeouts: &Timeouts) -> Arc<client::Config> {
    // Nothing at all received for longer than the keepalive budget means the peer is gone, even if
    // keepalives could not be sent.
    let inactivity = timeouts.keepalive_interval * (timeouts.keepalive_max as u32 + 2);
    Arc::new(client::Config {
        keepalive_interval: Some(timeouts.keepalive_interval),
        keepalive_max: timeouts.keepalive_max,
        inactivity_timeout: Some(inactivity),
        window_size: WINDOW_SIZE,
        maximum_packet_size: MAX_PACKET_SIZE,
        nodelay: true,
        preferred: Preferred {
            cipher: std::borrow::Cow::Borrowed(CIPHERS),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    })
}

impl Connection {
    /// Connects and authenticates within `timeouts.connect`.
    pub async fn open(builder: &str, target: &SshTarget, timeouts: &Timeouts) -> Result<Self, BuilderError> {
        let limit = timeouts.connect;
        match tokio::time::timeout(limit, Self::open_inner(builder, target, timeouts)).await {
            Ok(result) => result,
            Err(_) => Err(BuilderError::Connect {
                builder: builder.into(),
                host: target.host.clone(),
                port: target.port,
                reason: format!("no SSH session within the connect timeout of {limit:?}"),
            }),
        }
    }

    async fn open_inner(
        builder: &str,
        target: &SshTarget,
        timeouts: &Timeouts,
    ) -> Result<Self, BuilderError> {
        let connect_err = |reason: String| BuilderError::Connect {
            builder: builder.into(),
            host: target.host.clone(),
            port: target.port,
            reason,
        };
        let refused = Arc::new(Mutex::new(None));
        let handler = Client {
            host: target.host.clone(),
            port: target.port,
            pin: target.host_key.clone(),
            refused: refused.clone(),
        };
        let config = russh_config(timeouts);
        let (handle, jump) = match &target.jump {
            None => {
                let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
                    .await
                    .map_err(|e| connect_err(e.to_string()))?;
                // Nagle plus delayed ACKs cost two orders of magnitude on small SFTP requests.
                tcp.set_nodelay(true).map_err(|e| connect_err(e.to_string()))?;
                (client::connect_stream(config, tcp, handler).await, None)
            }
            Some(jump_target) => {
                let jump = Box::pin(Self::open_inner(builder, jump_target, timeouts)).await?;
                let channel = jump
                    .handle
                    .channel_open_direct_tcpip(target.host.clone(), target.port as u32, "127.0.0.1", 0)
                    .await
                    .map_err(|e| {
                        connect_err(format!("jump host {} cannot reach it: {e}", jump_target.host))
                    })?;
                let stream = channel.into_stream();
                (
                    client::connect_stream(config, stream, handler).await,
                    Some(Box::new(jump)),
                )
            }
        };
        let mut handle = match handle {
            Ok(handle) => handle,
            Err(err) => {
                if let Some(Verdict::Refused { problem, fingerprint }) = refused.lock().expect("slot").take()
                {
                    return Err(BuilderError::HostKey {
                        builder: builder.into(),
                        host: target.host.clone(),
                        port: target.port,
                        problem,
                        fingerprint,
                    });
                }
                return Err(connect_err(err.to_string()));
            }
        };
        authenticate(builder, target, &mut handle).await?;
        Ok(Self {
            builder: builder.into(),
            handle,
            _jump: jump,
        })
    }

    /// The builder's name.
    pub fn builder(&self) -> &str {
        &self.builder
    }

    /// Whether the session has ended (closed by either side or by the keepalive/inactivity timers).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Opens a session channel; failure means the connection is gone.
    pub async fn session_channel(&self, during: &str) -> Result<russh::Channel<client::Msg>, BuilderError> {
        self.handle
            .channel_open_session()
            .await
            .map_err(|_| self.lost(during))
    }

    /// The error for a connection that went away during `during`.
    pub fn lost(&self, during: &str) -> BuilderError {
        BuilderError::Lost {
            builder: self.builder.clone(),
            during: during.into(),
        }
    }

    /// Whether the builder still answers: opens and closes a channel within `limit`.
    pub async fn probe(&self, limit: Duration) -> bool {
        if self.is_closed() {
            return false;
        }
        match tokio::time::timeout(limit, self.handle.channel_open_session()).await {
            Ok(Ok(channel)) => {
                let _ = channel.close().await;
                true
            }
            _ => false,
        }
    }

    /// Closes the connection politely.
    pub async fn close(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "buildmaster done", "en")
            .await;
    }
}

async fn authenticate(
    builder: &str,
    target: &SshTarget,
    handle: &mut Handle<Client>,
) -> Result<(), BuilderError> {
    let key = russh::keys::decode_secret_key(&target.private_key, None).map_err(|e| BuilderError::Key {
        builder: builder.into(),
        reason: e.to_string(),
    })?;
    let key_type = key.algorithm().to_string();
    let lost = |e: russh::Error| BuilderError::Connect {
        builder: builder.into(),
        host: target.host.clone(),
        port: target.port,
        reason: format!("during authentication: {e}"),
    };
    // RSA keys sign with the best SHA-2 variant the server announces; other keys have one algorithm.
    let hash = if key.algorithm().is_rsa() {
        handle.best_supported_rsa_hash().await.map_err(lost)?.flatten()
    } else {
        None
    };
    let result = handle
        .authenticate_publickey(
            target.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(key), hash),
        )
        .await
        .map_err(lost)?;
    if result.success() {
        Ok(())
    } else {
        Err(BuilderError::Auth {
            builder: builder.into(),
            user: target.user.clone(),
            host: target.host.clone(),
            key_type,
        })
    }
}
