//! Frames: a 4-byte little-endian payload length, then the postcard-encoded payload.
//!
//! Both ends enforce a maximum payload size before allocating, so a corrupt or hostile length
//! prefix costs nothing but the connection it arrived on.

use serde::{Serialize, de::DeserializeOwned};

/// The largest frame a client may send. A request carries at most a 64 KiB message plus short
/// names; the margin lets an oversized argument reach the daemon's validation and get a refusal
/// that names the limit instead of a dropped connection.
pub const MAX_CLIENT_FRAME: usize = 1024 * 1024;

/// The largest frame the daemon sends: 100 messages of 64 KiB plus their envelopes fit easily.
pub const MAX_SERVER_FRAME: usize = 16 * 1024 * 1024;

/// The largest first frame (the [`crate::Hello`]) a daemon reads: a Hello is a dozen bytes, and a
/// connection that has not yet said who it is must not make the daemon wait for, or allocate, a
/// megabyte. Room for fields later versions may append.
pub const MAX_HELLO_FRAME: usize = 4 * 1024;

/// Bytes in the length prefix.
pub const PREFIX_LEN: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    // The causes are part of the messages and so not also `source`s: an error chain (`chatroomd:
    // …`) would print them twice.
    #[error("undecodable frame: {0}")]
    Decode(postcard::Error),
    #[error("unencodable frame: {0}")]
    Encode(postcard::Error),
    #[error("i/o error: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for FrameError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}

/// Encodes `value` as one complete frame (prefix included).
pub fn encode<T: Serialize>(value: &T, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; PREFIX_LEN];
    out = postcard::to_extend(value, out).map_err(FrameError::Encode)?;
    let len = out.len() - PREFIX_LEN;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    out[..PREFIX_LEN].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(out)
}

/// Decodes one payload (without its prefix). Trailing bytes are an error: a frame is one value.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    let (value, rest) = postcard::take_from_bytes(payload).map_err(FrameError::Decode)?;
    if !rest.is_empty() {
        return Err(FrameError::Decode(postcard::Error::DeserializeBadEncoding));
    }
    Ok(value)
}

/// Decodes the first frame of a connection as a daemon must, to stay able to answer every later
/// client: the [`crate::Hello`]'s fields as varints, the kind as a bare code (see
/// [`crate::HelloFrame::kind`]), and anything after them ignored (fields appended by later
/// versions). `Ok(None)` when the frame is another message than a Hello.
pub fn decode_hello(payload: &[u8]) -> Result<Option<crate::HelloFrame>, FrameError> {
    let (variant, rest) = postcard::take_from_bytes::<u32>(payload).map_err(FrameError::Decode)?;
    if variant != 0 {
        return Ok(None);
    }
    let ((version, client_pid, kind_code), _appended) =
        postcard::take_from_bytes::<(u32, u32, u32)>(rest).map_err(FrameError::Decode)?;
    Ok(Some(crate::HelloFrame {
        version,
        client_pid,
        kind_code,
    }))
}

/// Reads the payload length from a prefix, refusing lengths over `max`.
pub fn payload_len(prefix: [u8; PREFIX_LEN], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(prefix) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

#[cfg(feature = "tokio")]
mod io {
    use super::*;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    /// Reads one frame. `Ok(None)` is a clean end of stream between frames; an end of stream
    /// inside a frame is [`FrameError::Truncated`]. `buf` is reused between calls.
    pub async fn read_frame<T, R>(
        reader: &mut R,
        buf: &mut Vec<u8>,
        max: usize,
    ) -> Result<Option<T>, FrameError>
    where
        T: DeserializeOwned,
        R: AsyncRead + Unpin,
    {
        match read_payload(reader, buf, max).await? {
            true => decode(buf).map(Some),
            false => Ok(None),
        }
    }

    /// Reads one frame's payload into `buf` without decoding it (the daemon decodes the Hello
    /// with [`super::decode_hello`]). `Ok(false)` is a clean end of stream between frames.
    pub async fn read_payload<R>(
        reader: &mut R,
        buf: &mut Vec<u8>,
        max: usize,
    ) -> Result<bool, FrameError>
    where
        R: AsyncRead + Unpin,
    {
        let mut prefix = [0u8; PREFIX_LEN];
        let mut filled = 0;
        while filled < PREFIX_LEN {
            let n = reader.read(&mut prefix[filled..]).await?;
            if n == 0 {
                return if filled == 0 {
                    Ok(false)
                } else {
                    Err(FrameError::Truncated)
                };
            }
            filled += n;
        }
        let len = payload_len(prefix, max)?;
        buf.clear();
        buf.resize(len, 0);
        reader
            .read_exact(buf)
            .await
            .map_err(|err| match err.kind() {
                std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
                _ => FrameError::Io(err),
            })?;
        Ok(true)
    }

    /// Writes one frame and flushes it.
    pub async fn write_frame<T, W>(writer: &mut W, value: &T, max: usize) -> Result<(), FrameError>
    where
        T: Serialize,
        W: AsyncWrite + Unpin,
    {
        let bytes = encode(value, max)?;
        writer.write_all(&bytes).await?;
        writer.flush().await?;
        Ok(())
    }
}

#[cfg(feature = "tokio")]
pub use io::{read_frame, read_payload, write_frame};

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{ClientKind, ClientMessage, Hello, Refusal, Request, ServerMessage};

    fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
        let bytes = encode(&value, MAX_SERVER_FRAME).unwrap();
        let len = payload_len(bytes[..4].try_into().unwrap(), MAX_SERVER_FRAME).unwrap();
        assert_eq!(len, bytes.len() - 4);
        assert_eq!(decode::<T>(&bytes[4..]).unwrap(), value);
    }

    #[test]
    fn messages_roundtrip() {
        roundtrip(ClientMessage::Hello(Hello {
            version: 7,
            client_pid: 42,
            kind: ClientKind::Agent,
        }));
        roundtrip(ClientMessage::Call {
            id: 9,
            request: Request::SendMessage {
                topic_id: String::new(),
                name: " a ".into(),
                content: "hé\n".into(),
                to: "all".into(),
            },
        });
        roundtrip(ServerMessage::Reply {
            id: 3,
            outcome: Err(Refusal::invalid("name must not be blank")),
        });
    }

    #[test]
    fn handshake_is_variant_zero() {
        // Frozen: any version must be able to read another version's Hello and HelloReply.
        let bytes = encode(
            &ClientMessage::Hello(Hello {
                version: 1,
                client_pid: 5,
                kind: ClientKind::Agent,
            }),
            64,
        )
        .unwrap();
        assert_eq!(&bytes[4..], &[0, 1, 5, 0]);
    }

    #[test]
    fn oversized_frames_are_refused_both_ways() {
        let big = ClientMessage::Call {
            id: 1,
            request: Request::SendMessage {
                topic_id: String::new(),
                name: "a".into(),
                content: "x".repeat(100),
                to: "all".into(),
            },
        };
        assert!(matches!(
            encode(&big, 50),
            Err(FrameError::TooLarge { max: 50, .. })
        ));
        assert!(matches!(
            payload_len(u32::MAX.to_le_bytes(), MAX_CLIENT_FRAME),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn trailing_bytes_and_garbage_are_decode_errors() {
        let mut bytes = encode(
            &ClientMessage::Hello(Hello {
                version: 1,
                client_pid: 5,
                kind: ClientKind::Agent,
            }),
            64,
        )
        .unwrap();
        bytes.push(0);
        assert!(matches!(
            decode::<ClientMessage>(&bytes[4..]),
            Err(FrameError::Decode(_))
        ));
        assert!(matches!(
            decode::<ClientMessage>(&[0xff, 0xff, 0xff]),
            Err(FrameError::Decode(_))
        ));
    }

    /// The error chain as `anyhow`'s `{:#}` prints it (and so as `chatroomd: …` shows it).
    pub(crate) fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    #[test]
    fn an_error_chain_names_the_os_error_once() {
        let err = FrameError::from(std::io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(chain(&err), "i/o error: Permission denied (os error 13)");
        let err = decode::<ClientMessage>(&[0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(
            chain(&err).matches("undecodable").count(),
            1,
            "{}",
            chain(&err)
        );
        assert_eq!(chain(&err).split(": ").count(), 2, "{}", chain(&err));
    }

    #[tokio::test]
    async fn read_frame_distinguishes_clean_eof_from_truncation() {
        let frame = encode(
            &ClientMessage::Hello(Hello {
                version: 1,
                client_pid: 5,
                kind: ClientKind::Control,
            }),
            64,
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut whole: &[u8] = &frame;
        assert!(
            read_frame::<ClientMessage, _>(&mut whole, &mut buf, 64)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            read_frame::<ClientMessage, _>(&mut whole, &mut buf, 64)
                .await
                .unwrap()
                .is_none()
        );
        let mut cut: &[u8] = &frame[..frame.len() - 1];
        assert!(matches!(
            read_frame::<ClientMessage, _>(&mut cut, &mut buf, 64).await,
            Err(FrameError::Truncated)
        ));
        let mut half_prefix: &[u8] = &frame[..2];
        assert!(matches!(
            read_frame::<ClientMessage, _>(&mut half_prefix, &mut buf, 64).await,
            Err(FrameError::Truncated)
        ));
    }
}
