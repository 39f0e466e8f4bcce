import { expect, test } from "bun:test";
import { rootCertificates } from "node:tls";
import { systemRootCertificates } from "./root-certificates.ts";

test("the lazily read root certificates are node:tls's", () => {
  expect(systemRootCertificates().length).toBeGreaterThan(50);
  expect([...systemRootCertificates()]).toEqual([...rootCertificates]);
  expect(systemRootCertificates()[0]).toStartWith("-----BEGIN CERTIFICATE-----");
});
