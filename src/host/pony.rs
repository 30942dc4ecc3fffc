//! The Pony runtime as host (PONY_MODE.md): its functions, reached through
//! weak imports, and the pieces of each seam that use them. Only the seam
//! modules call into this file.

use std::ffi::c_void;
use std::io::Write;
use std::sync::OnceLock;

/// `pony_type_t` field holding the `_event_notify` message id (LP64).
const EVENT_NOTIFY_OFFSET: usize = 88;
/// `PONY_TRACE_OPAQUE` in pony.h.
const PONY_TRACE_OPAQUE: i32 = 2;
/// The thread id the runtime's own asio backend passes to the noisy hooks.
const ASIO_THREAD_ID: i32 = -12;
/// `ponyint_sched_maybe_wakeup_if_all_asleep(-1)`: not called from a scheduler.
const NOT_A_SCHEDULER: i32 = -1;

/// The runtime's functions, as `pony_runtime.c` found them (NULL if absent).
/// Field order mirrors `struct ponynet_pony_runtime` in that file.
#[repr(C)]
#[derive(Default)]
struct PonyRuntime {
    ctx: Option<unsafe extern "C" fn() -> *mut c_void>,
    alloc: Option<unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void>,
    alloc_msg: Option<unsafe extern "C" fn(u32, u32) -> *mut c_void>,
    sendv: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void, *mut c_void, bool)>,
    error: Option<unsafe extern "C-unwind" fn()>,
    register_thread: Option<unsafe extern "C" fn()>,
    unregister_thread: Option<unsafe extern "C" fn()>,
    gc_send: Option<unsafe extern "C" fn(*mut c_void)>,
    traceknown: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, *const c_void, i32)>,
    send_done: Option<unsafe extern "C" fn(*mut c_void)>,
    gc_recv: Option<unsafe extern "C" fn(*mut c_void)>,
    traceunknown: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, i32)>,
    recv_done: Option<unsafe extern "C" fn(*mut c_void)>,
    sched_noisy: Option<unsafe extern "C" fn(i32)>,
    sched_unnoisy: Option<unsafe extern "C" fn(i32)>,
    sched_wakeup: Option<unsafe extern "C" fn(i32)>,
    cpu_affinity: Option<unsafe extern "C" fn(u32)>,
}

extern "C" {
    fn ponynet_pony_runtime_table(out: *mut PonyRuntime);
}

/// Every required function, resolved; checked once by [`load`].
struct Runtime {
    ctx: unsafe extern "C" fn() -> *mut c_void,
    alloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    alloc_msg: unsafe extern "C" fn(u32, u32) -> *mut c_void,
    sendv: unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void, *mut c_void, bool),
    error: unsafe extern "C-unwind" fn(),
    register_thread: unsafe extern "C" fn(),
    unregister_thread: unsafe extern "C" fn(),
    gc_send: unsafe extern "C" fn(*mut c_void),
    traceknown: unsafe extern "C" fn(*mut c_void, *mut c_void, *const c_void, i32),
    send_done: unsafe extern "C" fn(*mut c_void),
    gc_recv: unsafe extern "C" fn(*mut c_void),
    traceunknown: unsafe extern "C" fn(*mut c_void, *mut c_void, i32),
    recv_done: unsafe extern "C" fn(*mut c_void),
    sched_noisy: unsafe extern "C" fn(i32),
    sched_unnoisy: unsafe extern "C" fn(i32),
    sched_wakeup: unsafe extern "C" fn(i32),
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

fn table() -> PonyRuntime {
    let mut t = PonyRuntime::default();
    // SAFETY: the C function fills every field of a struct of the same layout.
    unsafe { ponynet_pony_runtime_table(&mut t) };
    t
}

fn resolve(t: &PonyRuntime) -> Result<Runtime, &'static str> {
    macro_rules! need {
        ($f:ident, $name:literal) => {
            t.$f.ok_or($name)?
        };
    }
    Ok(Runtime {
        ctx: need!(ctx, "pony_ctx"),
        alloc: need!(alloc, "pony_alloc"),
        alloc_msg: need!(alloc_msg, "pony_alloc_msg"),
        sendv: need!(sendv, "pony_sendv"),
        error: need!(error, "pony_error"),
        register_thread: need!(register_thread, "pony_register_thread"),
        unregister_thread: need!(unregister_thread, "pony_unregister_thread"),
        gc_send: need!(gc_send, "pony_gc_send"),
        traceknown: need!(traceknown, "pony_traceknown"),
        send_done: need!(send_done, "pony_send_done"),
        gc_recv: need!(gc_recv, "pony_gc_recv"),
        traceunknown: need!(traceunknown, "pony_traceunknown"),
        recv_done: need!(recv_done, "pony_recv_done"),
        sched_noisy: need!(sched_noisy, "ponyint_sched_noisy_asio"),
        sched_unnoisy: need!(sched_unnoisy, "ponyint_sched_unnoisy_asio"),
        sched_wakeup: need!(sched_wakeup, "ponyint_sched_maybe_wakeup_if_all_asleep"),
    })
}

/// Resolves the runtime's functions; aborts with a clear message if one is
/// missing (a Pony program without them cannot work, and C cannot be told).
pub fn load() {
    RUNTIME.get_or_init(|| match resolve(&table()) {
        Ok(rt) => rt,
        Err(missing) => {
            let _ = writeln!(
                std::io::stderr(),
                "libponynet: Pony-runtime mode needs `{missing}`, which this process lacks"
            );
            std::process::abort();
        }
    });
}

fn rt() -> &'static Runtime {
    // Pony mode is entered only through `load`.
    RUNTIME.get().unwrap_or_else(|| std::process::abort())
}

/// The `_event_notify` message id of an actor's type; `None` if the type
/// has none. Does the GC handshake that lets the I/O thread hold the actor.
///
/// # Safety
/// `actor` is a live `pony_actor_t*` (its first word is its type descriptor).
pub unsafe fn adopt_actor(actor: *mut c_void) -> Option<u32> {
    // SAFETY: an actor's first word is its type descriptor.
    let ty = unsafe { *(actor as *const *const u8) };
    // SAFETY: the descriptor is at least EVENT_NOTIFY_OFFSET + 4 bytes (LP64 pony_type_t).
    let msg_id = unsafe { (ty.add(EVENT_NOTIFY_OFFSET) as *const u32).read_unaligned() };
    if msg_id == u32::MAX {
        return None;
    }
    let rt = rt();
    // SAFETY: runtime calls on the caller's (scheduler) thread, as libponyrt does.
    unsafe {
        let ctx = (rt.ctx)();
        (rt.gc_send)(ctx);
        (rt.traceknown)(ctx, actor, ty.cast(), PONY_TRACE_OPAQUE);
        (rt.send_done)(ctx);
    }
    Some(msg_id)
}

/// The GC handshake of destroy: the library lets go of the actor.
///
/// # Safety
/// `actor` was adopted by [`adopt_actor`].
pub unsafe fn release_actor(actor: *mut c_void) {
    let rt = rt();
    // SAFETY: as in adopt_actor.
    unsafe {
        let ctx = (rt.ctx)();
        (rt.gc_recv)(ctx);
        (rt.traceunknown)(ctx, actor, PONY_TRACE_OPAQUE);
        (rt.recv_done)(ctx);
    }
}

/// The asio message: `pony_msg_t` header, then event, flags, arg.
#[repr(C)]
struct AsioMsg {
    header: [u8; 16],
    event: *mut c_void,
    flags: u32,
    arg: u32,
}
const _: () = assert!(std::mem::size_of::<AsioMsg>() == 32);

/// Sends `_event_notify(event, flags, arg)` to the actor and wakes a
/// scheduler if all sleep.
///
/// # Safety
/// `actor` is live and adopted; the calling thread is registered.
pub unsafe fn send(actor: *mut c_void, msg_id: u32, event: *mut c_void, flags: u32, arg: u32) {
    let rt = rt();
    // SAFETY: pool index 0 is the 32-byte pool the runtime's own asio uses;
    // the message is ours to fill until pony_sendv takes it.
    unsafe {
        let m = (rt.alloc_msg)(0, msg_id).cast::<AsioMsg>();
        (*m).event = event;
        (*m).flags = flags;
        (*m).arg = arg;
        (rt.sendv)((rt.ctx)(), actor, m.cast(), m.cast(), false);
        (rt.sched_wakeup)(NOT_A_SCHEDULER);
    }
}

/// Registers the calling thread (the I/O thread) with the runtime.
pub fn register_thread() {
    // SAFETY: called once at the start of a library-owned thread.
    unsafe { (rt().register_thread)() }
}

/// Unregisters the calling thread.
pub fn unregister_thread() {
    // SAFETY: called once at the end of a thread registered above.
    unsafe { (rt().unregister_thread)() }
}

/// Raises a Pony error: unwinds (a foreign exception) to the caller's `try`.
///
/// # Safety
/// Called from the outermost frame of a `C-unwind` export, outside any
/// `catch_unwind`, with no live value that needs dropping.
pub unsafe fn raise_error() -> ! {
    // SAFETY: caller contract.
    unsafe { (rt().error)() };
    // pony_error does not return; if a broken runtime did, stop here.
    std::process::abort()
}

/// Memory the runtime's GC owns, for strings handed to Pony.
pub fn alloc(size: usize) -> *mut u8 {
    let rt = rt();
    // SAFETY: called on a registered (scheduler) thread, as Pony's FFI calls are.
    unsafe { (rt.alloc)((rt.ctx)(), size).cast() }
}

/// The noisy count left zero.
pub fn noisy_started() {
    // SAFETY: plain runtime call.
    unsafe { (rt().sched_noisy)(ASIO_THREAD_ID) }
}

/// The noisy count reached zero: schedulers may now find quiescence.
pub fn noisy_ended() {
    let rt = rt();
    // SAFETY: plain runtime calls.
    unsafe {
        (rt.sched_unnoisy)(ASIO_THREAD_ID);
        (rt.sched_wakeup)(NOT_A_SCHEDULER);
    }
}
