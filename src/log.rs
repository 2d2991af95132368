//! Routes the crate's `tracing` events to the log callback the host (CoreDNS) installed,
//! so Rust's log lines appear in CoreDNS's log with the right level.

use std::fmt::Write;
use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// The host's log function: level (1 error, 2 warning, 3 info, 4 debug), then the line as
/// UTF-8 bytes, valid during the call only.
pub(crate) type Callback = extern "C" fn(level: i32, msg: *const u8, msg_len: usize);

static CALLBACK: OnceLock<Callback> = OnceLock::new();

/// Installs `callback` for the life of the process. Only the first call takes effect;
/// false when an earlier one did, or the program has a `tracing` subscriber of its own.
pub(crate) fn set_callback(callback: Callback) -> bool {
    CALLBACK.set(callback).is_ok()
        && tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(CallbackLayer),
        )
        .is_ok()
}

struct CallbackLayer;

impl<S: Subscriber> Layer<S> for CallbackLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(callback) = CALLBACK.get() else {
            return;
        };
        let level = match *event.metadata().level() {
            Level::ERROR => 1,
            Level::WARN => 2,
            Level::INFO => 3,
            _ => 4,
        };
        let mut line = MessageVisitor(String::new());
        event.record(&mut line);
        callback(level, line.0.as_ptr(), line.0.len());
    }
}

/// The event's message, then any other fields as `key=value`.
struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}
