"""E-mail through an SMTP server (``smtplib``): STARTTLS, implicit TLS or plain (a local
relay), optional login. ``Message-ID`` is derived from the outbox row, so a mailbox or a
receiving system can drop a copy the relay sent twice."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

import redis

from saas.notify.channels import Outgoing, PermanentError, RetryableError, redact
from saas.settings import NotifySettings


class SmtpEmail:
    provider = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str,
        sender: str,
        timeout: float,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.sender = sender
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: NotifySettings, _client: redis.Redis) -> SmtpEmail:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            timeout=settings.send_timeout_seconds,
        )

    def build(self, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = f"<{message.receiver_key}@notify.cleangate>"
        mail.set_content(message.text)
        return mail

    def send(self, message: Outgoing) -> str:
        mail = self.build(message)
        try:
            if self.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self._password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            reason = self._safe(f"recipient refused: {codes}")
            if codes and all(code >= 500 for code in codes):
                raise PermanentError(reason) from None
            raise RetryableError(reason) from None
        except smtplib.SMTPDataError as exc:
            reason = self._safe(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}")
            if exc.smtp_code >= 500:
                raise PermanentError(reason) from None
            raise RetryableError(reason) from None
        except (smtplib.SMTPException, OSError) as exc:
            # connection, TLS, authentication, sender refused: the server or our configuration
            raise RetryableError(self._safe(f"SMTP: {type(exc).__name__} {exc}")) from None
        return str(mail["Message-ID"])

    def _safe(self, text: str) -> str:
        return redact(text[:300], [self._password])
