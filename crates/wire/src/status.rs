//! NTSTATUS values (MS-ERREF 2.3.1) used by the server.

/// An NTSTATUS code. Open: unknown values survive and print as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NtStatus(pub u32);

macro_rules! statuses {
    ($($name:ident = $v:expr),* $(,)?) => {
        impl NtStatus {
            $(pub const $name: NtStatus = NtStatus($v);)*
            /// The symbolic name, if known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    SUCCESS = 0x0000_0000,
    PENDING = 0x0000_0103,
    NOTIFY_ENUM_DIR = 0x0000_010C,
    BUFFER_OVERFLOW = 0x8000_0005,
    NO_MORE_FILES = 0x8000_0006,
    STOPPED_ON_SYMLINK = 0x8000_002D,
    UNSUCCESSFUL = 0xC000_0001,
    NOT_IMPLEMENTED = 0xC000_0002,
    INVALID_INFO_CLASS = 0xC000_0003,
    INFO_LENGTH_MISMATCH = 0xC000_0004,
    INVALID_HANDLE = 0xC000_0008,
    INVALID_PARAMETER = 0xC000_000D,
    NO_SUCH_DEVICE = 0xC000_000E,
    NO_SUCH_FILE = 0xC000_000F,
    INVALID_DEVICE_REQUEST = 0xC000_0010,
    END_OF_FILE = 0xC000_0011,
    MORE_PROCESSING_REQUIRED = 0xC000_0016,
    INVALID_VIEW_SIZE = 0xC000_001F,
    NO_MEMORY = 0xC000_0017,
    ACCESS_DENIED = 0xC000_0022,
    BUFFER_TOO_SMALL = 0xC000_0023,
    OBJECT_NAME_INVALID = 0xC000_0033,
    OBJECT_NAME_NOT_FOUND = 0xC000_0034,
    OBJECT_NAME_COLLISION = 0xC000_0035,
    OBJECT_PATH_INVALID = 0xC000_0039,
    OBJECT_PATH_NOT_FOUND = 0xC000_003A,
    OBJECT_PATH_SYNTAX_BAD = 0xC000_003B,
    SHARING_VIOLATION = 0xC000_0043,
    EA_TOO_LARGE = 0xC000_0050,
    NONEXISTENT_EA_ENTRY = 0xC000_0051,
    NO_EAS_ON_FILE = 0xC000_0052,
    EAS_NOT_SUPPORTED = 0xC000_004F,
    FILE_LOCK_CONFLICT = 0xC000_0054,
    LOCK_NOT_GRANTED = 0xC000_0055,
    DELETE_PENDING = 0xC000_0056,
    PRIVILEGE_NOT_HELD = 0xC000_0061,
    WRONG_PASSWORD = 0xC000_006A,
    LOGON_FAILURE = 0xC000_006D,
    ACCOUNT_RESTRICTION = 0xC000_006E,
    PASSWORD_EXPIRED = 0xC000_0071,
    NONE_MAPPED = 0xC000_0073,
    RANGE_NOT_LOCKED = 0xC000_007E,
    DISK_FULL = 0xC000_007F,
    INSUFFICIENT_RESOURCES = 0xC000_009A,
    FILE_IS_A_DIRECTORY = 0xC000_00BA,
    NOT_SUPPORTED = 0xC000_00BB,
    NETWORK_NAME_DELETED = 0xC000_00C9,
    NETWORK_ACCESS_DENIED = 0xC000_00CA,
    BAD_NETWORK_NAME = 0xC000_00CC,
    REQUEST_NOT_ACCEPTED = 0xC000_00D0,
    PIPE_NOT_AVAILABLE = 0xC000_00AC,
    INVALID_PIPE_STATE = 0xC000_00AD,
    PIPE_BUSY = 0xC000_00AE,
    PIPE_DISCONNECTED = 0xC000_00B0,
    PIPE_CLOSING = 0xC000_00B1,
    PIPE_EMPTY = 0xC000_00D9,
    INTERNAL_ERROR = 0xC000_00E5,
    DIRECTORY_NOT_EMPTY = 0xC000_0101,
    NOT_A_DIRECTORY = 0xC000_0103,
    NAME_TOO_LONG = 0xC000_0106,
    FILES_OPEN = 0xC000_0107,
    CANCELLED = 0xC000_0120,
    CANNOT_DELETE = 0xC000_0121,
    FILE_DELETED = 0xC000_0123,
    FILE_CLOSED = 0xC000_0128,
    INVALID_LEVEL = 0xC000_0148,
    INVALID_DEVICE_STATE = 0xC000_0184,
    IO_TIMEOUT = 0xC000_00B5,
    NETWORK_SESSION_EXPIRED = 0xC000_035C,
    NOT_A_REPARSE_POINT = 0xC000_0275,
    USER_SESSION_DELETED = 0xC000_0203,
    SMB_NO_PREAUTH_INTEGRITY_HASH_OVERLAP = 0xC000_05D3,
    BAD_IMPERSONATION_LEVEL = 0xC000_00A5,
    NOT_FOUND = 0xC000_0225,
    OBJECT_NAME_EXISTS = 0x4000_0000,
    IO_DEVICE_ERROR = 0xC000_0185,
    NOT_SAME_DEVICE = 0xC000_00D4,
    INVALID_OPLOCK_PROTOCOL = 0xC000_00E3,
    NOTIFY_CLEANUP = 0x0000_010B,
    BAD_NETWORK_PATH = 0xC000_00BE,
    TOO_MANY_LINKS = 0xC000_0265,
    INVALID_EA_NAME = 0x8000_0013,
    INVALID_SECURITY_DESCR = 0xC000_0079,
    INVALID_LOCK_RANGE = 0xC000_01A1,
    FS_DRIVER_REQUIRED = 0xC000_019C,
    FILE_NOT_AVAILABLE = 0xC000_0467,
    OBJECTID_NOT_FOUND = 0xC000_02F0,
    QUOTA_EXCEEDED = 0xC000_0044,
    MEDIA_WRITE_PROTECTED = 0xC000_00A2,
    TOO_MANY_OPENED_FILES = 0xC000_011F,
    INVALID_NETWORK_RESPONSE = 0xC000_00C3,
    USER_MAPPED_FILE = 0xC000_0243,
    DEVICE_NOT_READY = 0xC000_00A3,
}

impl NtStatus {
    pub fn is_error(self) -> bool {
        self.0 >= 0xC000_0000
    }
}

impl std::fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => write!(f, "STATUS_{n}"),
            None => write!(f, "NtStatus({:#010x})", self.0),
        }
    }
}

impl std::fmt::Display for NtStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl From<&crate::WireError> for NtStatus {
    fn from(_: &crate::WireError) -> Self {
        NtStatus::INVALID_PARAMETER
    }
}
