//! Functions a child can run, by name: the [`register!`](crate::process::register)
//! macro puts an entry for a function into one list that the linker assembles
//! ([`linkme`]'s distributed slice), so the list is complete before any code runs,
//! including in a child that looks a function up before `main`.

use std::any::TypeId;
use std::os::fd::OwnedFd;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec::{self, Encoded};

/// Every registered function, in the executable.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static REGISTRY: [Registration];

/// How a registered function ended in the child.
pub(crate) enum CallError {
    /// Its argument did not decode.
    Decode(String),
    /// It panicked with this message.
    Panicked(String),
    /// Its result did not encode.
    Encode(String),
}

type Trampoline = fn(*const (), &[u8], Vec<OwnedFd>) -> Result<Encoded, CallError>;

/// One registered function: made by [`register!`](crate::process::register); not
/// meant to be built by hand.
#[doc(hidden)]
pub struct Registration {
    name: &'static str,
    function: *const (),
    /// The `TypeId` of the function's own (zero-sized, unique) item type: what
    /// identifies it. Not its address: a small function may have several copies
    /// (one per codegen unit) with different addresses.
    item: fn() -> TypeId,
    call: Trampoline,
}

// SAFETY: `function` is a function pointer, immutable and valid in every thread.
unsafe impl Sync for Registration {}

impl Registration {
    /// The entry for the function item `item` (also given as the pointer
    /// `function`), known as `name`.
    pub const fn new<F: 'static, A, R>(
        name: &'static str,
        item: F,
        function: fn(A) -> R,
    ) -> Registration
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        // A function item is zero-sized: nothing to drop.
        std::mem::forget(item);
        Registration {
            name,
            function: function as *const (),
            item: TypeId::of::<F>,
            call: trampoline::<A, R>,
        }
    }

    /// The registered name (`module::function`).
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Decode the argument, run the function (catching a panic), encode the result.
    pub(crate) fn call(&self, args: &[u8], fds: Vec<OwnedFd>) -> Result<Encoded, CallError> {
        (self.call)(self.function, args, fds)
    }
}

fn trampoline<A, R>(
    function: *const (),
    args: &[u8],
    fds: Vec<OwnedFd>,
) -> Result<Encoded, CallError>
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    // SAFETY: `function` was made from a `fn(A) -> R` in `Registration::new`, the only
    // place that pairs it with this trampoline.
    let function: fn(A) -> R = unsafe { std::mem::transmute::<*const (), fn(A) -> R>(function) };
    let arg: A = codec::decode(args, fds).map_err(CallError::Decode)?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| function(arg)))
        .map_err(|payload| CallError::Panicked(super::panic_text(&*payload)))?;
    codec::encode(&result).map_err(CallError::Encode)
}

/// The index of the entry of the function item `F`, if it is registered.
pub(crate) fn find<F: 'static>() -> Option<u32> {
    let item = TypeId::of::<F>();
    REGISTRY
        .iter()
        .position(|r| (r.item)() == item)
        .map(|i| i as u32)
}

/// [`find`], or the error that says what to add.
pub(crate) fn index_of<F: 'static>() -> Result<u32, super::ProcessError> {
    find::<F>().ok_or_else(|| super::ProcessError::NotRegistered {
        function: std::any::type_name::<F>().to_string(),
    })
}

/// The entry with this index.
pub(crate) fn get(index: u32) -> Option<&'static Registration> {
    REGISTRY.get(index as usize)
}

/// The entry with this name.
pub(crate) fn by_name(name: &str) -> Option<(u32, &'static Registration)> {
    REGISTRY
        .iter()
        .enumerate()
        .find(|(_, r)| r.name == name)
        .map(|(i, r)| (i as u32, r))
}

/// The expansion of [`register!`](crate::process::register).
#[macro_export]
#[doc(hidden)]
macro_rules! __heddle_process_register {
    ($($function:path),+ $(,)?) => {
        $(
            const _: () = {
                #[$crate::process::__linkme::distributed_slice($crate::process::__REGISTRY)]
                #[linkme(crate = $crate::process::__linkme)]
                static ENTRY: $crate::process::__Registration = $crate::process::__Registration::new(
                    concat!(module_path!(), "::", stringify!($function)),
                    $function,
                    $function,
                );
            };
        )+
    };
}
