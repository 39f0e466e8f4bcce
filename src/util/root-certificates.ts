// The system's (Bun's bundled) root certificates, read on first use. `import { rootCertificates }
// from "node:tls"` builds the whole list (~150 PEM certificates parsed by BoringSSL) while the module
// graph loads, at every start, though only servers with extra CA files ([federation] ca_files,
// [http_client] ca_files) ever need it.
let roots: readonly string[] | undefined;

export function systemRootCertificates(): readonly string[] {
  return (roots ??= (require("node:tls") as typeof import("node:tls")).rootCertificates);
}
