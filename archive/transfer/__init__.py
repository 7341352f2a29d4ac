"""Transfer to the state archive (移交): DA/T 48 EEPs in a DA/T 93-style package, and its checks on receipt."""

from archive.transfer.package import CaseToTransfer, write_transfer_package
from archive.transfer.verify import TransferCheck, verify_transfer_package

__all__ = ["CaseToTransfer", "TransferCheck", "verify_transfer_package", "write_transfer_package"]
