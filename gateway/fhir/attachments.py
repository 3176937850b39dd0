"""The attachment limits of a PAS request (DOMAIN.md: up to 5 documents, 5 MB each, 25 MB in
all; DOC, DOCX, PDF, JPG, JPEG, TIF, TXT, PNG), each refusal naming the attachment.

A document is any R4 Attachment the bundle carries (Claim.supportingInfo.valueAttachment,
DocumentReference.content.attachment, Communication.payload.contentAttachment,
DiagnosticReport.presentedForm, a QuestionnaireResponse answer, Media.content) and every Binary
resource. Its size is that of its decoded base64 data, or the size it declares when the content
travels by url; an attachment whose url is a Binary entry of the bundle is that Binary, counted
once. Its type is its contentType, or the extension of its title or url when it has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.fhir.bundle import BundleIndex, path_of
from gateway.fhir.memo import DigestMemo
from gateway.fhir.outcome import Issue, error
from gateway.partners.settings import (
    PAS_MAX_ATTACHMENT_BYTES,
    PAS_MAX_ATTACHMENTS,
    PAS_MAX_ATTACHMENTS_TOTAL,
)

# MIME types (RFC 2046 registrations) of the document kinds the program accepts.
ALLOWED_TYPES = {
    "application/msword": "DOC",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/pdf": "PDF",
    "image/jpeg": "JPG",
    "image/jpg": "JPG",  # not registered, but common enough to read as JPEG
    "image/tiff": "TIF",
    "text/plain": "TXT",
    "image/png": "PNG",
}
ALLOWED_EXTENSIONS = frozenset({"doc", "docx", "pdf", "jpg", "jpeg", "tif", "tiff", "txt", "png"})
# Keys whose value is an Attachment (or a list of them) in R4; Patient.photo is not a document.
ATTACHMENT_KEYS = frozenset(
    {"valueAttachment", "attachment", "contentAttachment", "presentedForm", "sourceAttachment"}
)
# Too costly (413) rather than malformed (400): the request is fine, only too big.
TOO_COSTLY = "too-costly"
# The digests of resources that hold no Attachment (gateway.fhir.memo): not walked again.
NO_ATTACHMENTS: DigestMemo[bool] = DigestMemo()


@dataclass(frozen=True)
class Document:
    path: str  # FHIRPath of the Attachment or Binary
    attachment: dict[str, Any]

    @property
    def label(self) -> str:
        title = self.attachment.get("title")
        if isinstance(title, str) and title:
            return f"{self.path} ({title[:80]})"
        return self.path

    @property
    def size(self) -> int:
        data = self.attachment.get("data")
        if isinstance(data, str) and data:
            return decoded_size(data)
        declared = self.attachment.get("size")
        return declared if isinstance(declared, int) and declared > 0 else 0

    @property
    def kind(self) -> str | None:
        """The accepted kind (PDF, DOCX, ...), or None when the type is not one of them."""
        content_type = self.attachment.get("contentType")
        if isinstance(content_type, str) and content_type.strip():
            mime = content_type.split(";", 1)[0].strip().lower()
            return ALLOWED_TYPES.get(mime)
        for name in (self.attachment.get("title"), self.attachment.get("url")):
            if isinstance(name, str) and "." in name:
                extension = name.rsplit(".", 1)[1].lower()
                if extension in ALLOWED_EXTENSIONS:
                    return extension.upper()
        return None


def decoded_size(data: str) -> int:
    """Bytes a base64 string decodes to (whitespace ignored, as R4 base64Binary allows)."""
    length = len(data) - sum(data.count(space) for space in (" ", "\n", "\r", "\t"))
    padding = 2 if data.rstrip().endswith("==") else 1 if data.rstrip().endswith("=") else 0
    return max(0, length * 3 // 4 - padding)


def documents(bundle: dict[str, Any], index: BundleIndex | None = None) -> list[Document]:
    index = index or BundleIndex(bundle)
    binaries = {entry.index for entry in index.of_type("Binary")}
    found: list[Document] = []
    for entry in index.entries:
        if entry.resource_type == "Binary":
            found.append(Document(entry.path, entry.resource))
            continue
        digest = index.digest(entry)
        if NO_ATTACHMENTS.get(digest):
            continue
        held = list(_attachments(entry.resource, entry.path, entry.resource_type))
        if not held:
            NO_ATTACHMENTS.put(digest, True)
        for path, attachment in held:
            url = attachment.get("url")
            if not attachment.get("data") and isinstance(url, str) and url:
                if any(target.index in binaries for target in index.matches(url, entry)):
                    continue  # the Binary entry it points at is counted instead
            found.append(Document(path, attachment))
    return found


def _attachments(
    resource: dict[str, Any], root: str, resource_type: str | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Attachment under a resource, with its FHIRPath, in document order: depth first
    with a stack of its own, a path spelled only for an Attachment found (most of a resource
    holds none)."""
    # (value, where, found): an Attachment to yield, or an element to look into.
    stack: list[tuple[Any, Any, bool]] = [(resource, None, False)]
    while stack:
        node, where, found = stack.pop()
        if found:
            yield path_of(root, where), node
            continue
        if not isinstance(node, dict):
            continue
        # Only the resource itself is a Media (its `content` an Attachment).
        media = where is None and resource_type == "Media"
        below: list[tuple[Any, Any, bool]] = []
        for key, value in node.items():
            if key in ("text", "contained") or not isinstance(value, (dict, list)):
                continue
            step = (where, "." + key)
            is_attachment = key in ATTACHMENT_KEYS or (media and key == "content")
            if isinstance(value, dict):
                below.append((value, step, is_attachment))
            else:
                below.extend(
                    (item, (step, f"[{position}]"), is_attachment)
                    for position, item in enumerate(value)
                    if isinstance(item, dict)
                )
        stack.extend(reversed(below))


def check_attachments(bundle: Any, index: BundleIndex | None = None) -> list[Issue]:
    """The limits, as error issues naming each attachment at fault (empty when within).
    `index`: the bundle's, when the caller has it."""
    if not isinstance(bundle, dict) or not isinstance(bundle.get("entry"), list):
        return []
    docs = documents(bundle, index)
    issues: list[Issue] = []
    for doc in docs:
        if doc.kind is None:
            kinds = ", ".join(sorted(set(ALLOWED_TYPES.values()) | {"JPEG"}))
            content_type = doc.attachment.get("contentType")
            shown = f"type {content_type!r}" if isinstance(content_type, str) else "no type"
            text = f"Attachment {doc.label} has {shown}; accepted: {kinds}"
            issues.append(error("value", text, f"{doc.path}.contentType"))
        if doc.size > PAS_MAX_ATTACHMENT_BYTES:
            text = (
                f"Attachment {doc.label} is {doc.size} bytes; "
                f"each may be at most {PAS_MAX_ATTACHMENT_BYTES} bytes (5 MB)"
            )
            issues.append(error(TOO_COSTLY, text, doc.path))
    if len(docs) > PAS_MAX_ATTACHMENTS:
        extra = ", ".join(doc.path for doc in docs[PAS_MAX_ATTACHMENTS:])
        text = (
            f"The request carries {len(docs)} attachments; at most {PAS_MAX_ATTACHMENTS} are "
            f"accepted (beyond the limit: {extra})"
        )
        issues.append(error(TOO_COSTLY, text, *(doc.path for doc in docs[PAS_MAX_ATTACHMENTS:])))
    grand_total = sum(doc.size for doc in docs)
    running = 0
    for doc in docs:
        running += doc.size
        if running > PAS_MAX_ATTACHMENTS_TOTAL:
            text = (
                f"Attachments total {grand_total} bytes; at most {PAS_MAX_ATTACHMENTS_TOTAL} "
                f"bytes (25 MB) in all are accepted, a limit crossed at attachment {doc.label}"
            )
            issues.append(error(TOO_COSTLY, text, doc.path))
            break
    return issues


def refusal_status(issues: list[Issue]) -> int:
    """413 when only sizes or counts are at fault, else 400 (a type that is not accepted)."""
    return 413 if issues and all(issue.code == TOO_COSTLY for issue in issues) else 400
