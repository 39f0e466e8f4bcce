// Files embedded by scripts/build.ts for the compiled binary (see sharp-native.ts).
declare module "hs-native:*" {
  const path: string;
  export default path;
}
