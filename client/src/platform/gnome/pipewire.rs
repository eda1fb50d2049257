//! Frames of a screen cast, received over PipeWire on a thread of their
//! own. The compositor sends a frame only when the screen changed, so the
//! latest one is kept for each monitor and a look reads it: a still screen
//! costs nothing.
//!
//! The cast is asked for at most [`MAX_FRAMES_PER_SECOND`]: every frame is
//! copied out of PipeWire's buffer (it must be handed back at once), and
//! neither a look nor a frozen overlay needs more.

use crate::capture::Frame;
use crate::error::ClientError;
use pipewire::spa;
use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
use spa::param::video::{VideoFormat, VideoInfoRaw};
use spa::param::ParamType;
use spa::pod::{self, serialize::PodSerializer, Pod};
use spa::utils::{Direction, Fraction, Rectangle, SpaTypes};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const MAX_FRAMES_PER_SECOND: u32 = 5;

fn failed(error: impl std::fmt::Display) -> ClientError {
    ClientError::Capture(format!("PipeWire: {error}"))
}

/// What the receiving thread shares with the rest of the app.
#[derive(Default)]
struct Shared {
    /// The latest frame of each stream (by PipeWire node).
    latest: HashMap<u32, Frame>,
    /// Set when a stream ended: the user stopped sharing, or the
    /// compositor went away.
    ended: Option<String>,
}

/// The frames of one cast, for as long as it is kept.
pub(super) struct Frames {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    quit: pipewire::channel::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Frames {
    /// Starts receiving `nodes` over the PipeWire connection `fd` (from the
    /// portal's `OpenPipeWireRemote`).
    pub(super) fn start(fd: std::os::fd::OwnedFd, nodes: Vec<u32>) -> Result<Self, ClientError> {
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let (quit, quit_receiver) = pipewire::channel::channel::<()>();
        let (ready_sender, ready) = std::sync::mpsc::channel::<Result<(), ClientError>>();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("screen-cast".into())
            .spawn(move || {
                let result = receive(fd, nodes, thread_shared.clone(), quit_receiver, &ready_sender);
                if let Err(error) = result {
                    let _ = ready_sender.send(Err(error.clone()));
                    let (lock, changed) = &*thread_shared;
                    let mut shared = lock.lock().unwrap_or_else(|p| p.into_inner());
                    shared.ended.get_or_insert(error.to_string());
                    changed.notify_all();
                }
            })
            .map_err(failed)?;
        ready
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| failed("the cast's streams did not connect"))??;
        Ok(Self {
            shared,
            quit,
            thread: Some(thread),
        })
    }

    /// The latest frame of `node`, waiting up to `wait` for the first one.
    pub(super) fn latest(&self, node: u32, wait: Duration) -> Result<Frame, ClientError> {
        let (lock, changed) = &*self.shared;
        let shared = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (shared, _) = changed
            .wait_timeout_while(shared, wait, |shared| {
                shared.ended.is_none() && !shared.latest.contains_key(&node)
            })
            .unwrap_or_else(|p| p.into_inner());
        if let Some(reason) = &shared.ended {
            return Err(ClientError::Capture(format!("the screen cast ended: {reason}")));
        }
        shared
            .latest
            .get(&node)
            .cloned()
            .ok_or_else(|| failed("no frame arrived from the screen cast"))
    }

    /// Why the cast ended, if it did.
    pub(super) fn ended(&self) -> Option<String> {
        let (lock, _) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).ended.clone()
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        let _ = self.quit.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Per stream: its node and the format it was given.
struct StreamData {
    node: u32,
    format: VideoInfoRaw,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    streaming: bool,
}

fn receive(
    fd: std::os::fd::OwnedFd,
    nodes: Vec<u32>,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    quit: pipewire::channel::Receiver<()>,
    ready: &std::sync::mpsc::Sender<Result<(), ClientError>>,
) -> Result<(), ClientError> {
    pipewire::init();
    let main_loop = pipewire::main_loop::MainLoopRc::new(None).map_err(failed)?;
    let context = pipewire::context::ContextRc::new(&main_loop, None).map_err(failed)?;
    let core = context.connect_fd_rc(fd, None).map_err(failed)?;
    let mut streams = Vec::with_capacity(nodes.len());
    for node in nodes {
        let stream = pipewire::stream::StreamRc::new(
            core.clone(),
            "sightline-screen",
            pipewire::properties::properties! {
                *pipewire::keys::MEDIA_TYPE => "Video",
                *pipewire::keys::MEDIA_CATEGORY => "Capture",
                *pipewire::keys::MEDIA_ROLE => "Screen",
            },
        )
        .map_err(failed)?;
        let data = StreamData {
            node,
            format: VideoInfoRaw::default(),
            shared: shared.clone(),
            streaming: false,
        };
        let listener = stream
            .add_local_listener_with_user_data(data)
            .state_changed(|_, data, _, state| on_state(data, state))
            .param_changed(|_, data, id, param| {
                if let Some(param) = param.filter(|_| id == ParamType::Format.as_raw()) {
                    if let Err(error) = data.format.parse(param) {
                        tracing::warn!(?error, "the cast's format could not be read");
                    }
                }
            })
            .process(|stream, data| {
                if let Some(mut buffer) = stream.dequeue_buffer() {
                    if let Some(frame) = copy_frame(&mut buffer, &data.format) {
                        let (lock, changed) = &*data.shared;
                        lock.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .latest
                            .insert(data.node, frame);
                        changed.notify_all();
                    }
                }
            })
            .register()
            .map_err(failed)?;
        let format = format_offer()?;
        let mut params = [Pod::from_bytes(&format).ok_or_else(|| failed("the format offer"))?];
        stream
            .connect(
                Direction::Input,
                Some(node),
                pipewire::stream::StreamFlags::AUTOCONNECT | pipewire::stream::StreamFlags::MAP_BUFFERS,
                &mut params,
            )
            .map_err(failed)?;
        streams.push((stream, listener));
    }
    let _ = ready.send(Ok(()));
    let quitting = main_loop.clone();
    let _quit = quit.attach(main_loop.loop_(), move |()| quitting.quit());
    main_loop.run();
    for (stream, _) in &streams {
        let _ = stream.disconnect();
    }
    Ok(())
}

fn on_state(data: &mut StreamData, state: pipewire::stream::StreamState) {
    use pipewire::stream::StreamState;
    let ended = match state {
        StreamState::Streaming | StreamState::Paused => {
            data.streaming = true;
            None
        }
        StreamState::Error(reason) => Some(reason),
        // Unconnected after it ran: the compositor took the stream away,
        // which is what "Stop sharing" does (the portal's Closed signal
        // does not always come).
        StreamState::Unconnected if data.streaming => Some("stopped".to_owned()),
        _ => None,
    };
    if let Some(reason) = ended {
        let (lock, changed) = &*data.shared;
        lock.lock()
            .unwrap_or_else(|p| p.into_inner())
            .ended
            .get_or_insert(reason);
        changed.notify_all();
    }
}

/// Copies a buffer out as a BGRA frame (the formats offered are BGRx and
/// BGRA, which are that already).
fn copy_frame(buffer: &mut pipewire::buffer::Buffer<'_>, format: &VideoInfoRaw) -> Option<Frame> {
    let size = format.size();
    if size.width == 0 || size.height == 0 {
        return None;
    }
    let datas = buffer.datas_mut();
    let data = datas.first_mut()?;
    let chunk = data.chunk();
    let offset = usize::try_from(chunk.offset()).ok()?;
    let length = usize::try_from(chunk.size()).ok()?;
    let stride = usize::try_from(chunk.stride()).ok().filter(|s| *s > 0)?;
    // A chunk without pixels (only the cursor or damage moved).
    if length == 0 {
        return None;
    }
    let bytes = data.data()?;
    let rows = usize::try_from(size.height).ok()?;
    let pixels = bytes.get(offset..offset.checked_add(stride.checked_mul(rows)?)?)?;
    Some(Frame {
        width: size.width,
        height: size.height,
        stride,
        bgra: pixels.to_vec(),
    })
}

/// Raw video, BGRx or BGRA, any size, at most the frame rate we need.
fn format_offer() -> Result<Vec<u8>, ClientError> {
    let object = pod::object!(
        SpaTypes::ObjectParamFormat,
        ParamType::EnumFormat,
        pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        pod::property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            VideoFormat::BGRx,
            VideoFormat::BGRx,
            VideoFormat::BGRA
        ),
        pod::property!(
            FormatProperties::VideoSize,
            Choice,
            Range,
            Rectangle,
            Rectangle {
                width: 1920,
                height: 1080
            },
            Rectangle { width: 1, height: 1 },
            Rectangle {
                width: 16384,
                height: 16384
            }
        ),
        // Variable frame rate (a frame when the screen changed), at most
        // the rate we need.
        pod::property!(
            FormatProperties::VideoFramerate,
            Fraction,
            Fraction { num: 0, denom: 1 }
        ),
        pod::property!(
            FormatProperties::VideoMaxFramerate,
            Choice,
            Range,
            Fraction,
            Fraction {
                num: MAX_FRAMES_PER_SECOND,
                denom: 1
            },
            Fraction { num: 1, denom: 1 },
            Fraction {
                num: MAX_FRAMES_PER_SECOND,
                denom: 1
            }
        ),
    );
    Ok(
        PodSerializer::serialize(std::io::Cursor::new(Vec::new()), &pod::Value::Object(object))
            .map_err(failed)?
            .0
            .into_inner(),
    )
}
