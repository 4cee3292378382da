"""E-mail fit to send: Liquid templates with HTML and text parts per locale, the
one-click unsubscribe every marketing e-mail carries (RFC 8058), and the addresses
bounces and complaints suppress."""
