import { describe, expect, test } from "bun:test";
import { chooseRecommendedSize, fitsWithin, planThumbnail } from "./thumbnails.ts";

describe("chooseRecommendedSize", () => {
  test("the smallest recommended size of the same method that covers the request", () => {
    expect(chooseRecommendedSize({ width: 30, height: 30, method: "crop" })).toEqual({ width: 32, height: 32, method: "crop" });
    expect(chooseRecommendedSize({ width: 64, height: 64, method: "crop" })).toEqual({ width: 96, height: 96, method: "crop" });
    expect(chooseRecommendedSize({ width: 320, height: 240, method: "scale" })).toEqual({ width: 320, height: 240, method: "scale" });
    expect(chooseRecommendedSize({ width: 321, height: 100, method: "scale" })).toEqual({ width: 640, height: 480, method: "scale" });
  });
  test("crop larger than any crop size falls back to a covering scale size", () => {
    expect(chooseRecommendedSize({ width: 200, height: 200, method: "crop" })).toEqual({ width: 320, height: 240, method: "scale" });
  });
  test("larger than everything: the largest of the method", () => {
    expect(chooseRecommendedSize({ width: 2000, height: 2000, method: "scale" })).toEqual({ width: 800, height: 600, method: "scale" });
    expect(chooseRecommendedSize({ width: 2000, height: 2000, method: "crop" })).toEqual({ width: 96, height: 96, method: "crop" });
  });
});

describe("planThumbnail", () => {
  test("scale fits inside the box keeping the aspect ratio", () => {
    expect(planThumbnail(2400, 1600, { width: 320, height: 240, method: "scale" })).toEqual({ width: 320, height: 213 });
    expect(planThumbnail(1600, 2400, { width: 320, height: 240, method: "scale" })).toEqual({ width: 160, height: 240 });
  });
  test("scale never upscales", () => {
    expect(planThumbnail(100, 50, { width: 320, height: 240, method: "scale" })).toEqual({ width: 100, height: 50 });
  });
  test("crop gives exactly the box, cut around the centre", () => {
    expect(planThumbnail(2400, 1600, { width: 96, height: 96, method: "crop" })).toEqual({
      extract: { left: 400, top: 0, width: 1600, height: 1600 },
      width: 96,
      height: 96,
    });
  });
  test("crop of a smaller original keeps the aspect ratio without upscaling", () => {
    expect(planThumbnail(50, 200, { width: 96, height: 96, method: "crop" })).toEqual({
      extract: { left: 0, top: 75, width: 50, height: 50 },
      width: 50,
      height: 50,
    });
  });
  test("fitsWithin", () => {
    expect(fitsWithin(30, 30, { width: 32, height: 32 })).toBe(true);
    expect(fitsWithin(33, 30, { width: 32, height: 32 })).toBe(false);
  });
});
