import { test } from 'node:test';
import assert from 'node:assert/strict';
import { s3BaseUrl, s3ClientConfig, s3Endpoint } from './s3.ts';

test('the endpoint comes from --s3-endpoint, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL', () => {
  assert.equal(s3Endpoint('http://a:1', { AWS_ENDPOINT_URL: 'http://b:2' }), 'http://a:1');
  assert.equal(s3Endpoint(undefined, { AWS_ENDPOINT_URL_S3: 'http://c:3', AWS_ENDPOINT_URL: 'http://b:2' }), 'http://c:3');
  assert.equal(s3Endpoint(undefined, { AWS_ENDPOINT_URL: 'http://b:2' }), 'http://b:2');
  assert.equal(s3Endpoint(undefined, {}), undefined);
});

test('OpenCHAMI S3_ACCESS/S3_SECRET are used only when the AWS credentials variables are not set', () => {
  const openchami = { S3_ACCESS: 'admin', S3_SECRET: 'admin123' };
  assert.deepEqual(s3ClientConfig('http://s3:9000', openchami).credentials, { accessKeyId: 'admin', secretAccessKey: 'admin123' });
  assert.equal(s3ClientConfig('http://s3:9000', { ...openchami, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' }).credentials, undefined, 'AWS chain');
  assert.equal(s3ClientConfig('http://s3:9000', { ...openchami, AWS_PROFILE: 'lab' }).credentials, undefined, 'AWS profile');
});

test('a custom endpoint gets path-style addressing and a default region; AWS keeps its own', () => {
  const custom = s3ClientConfig('http://s3:9000', {});
  assert.deepEqual([custom.endpoint, custom.forcePathStyle, custom.region], ['http://s3:9000', true, 'us-east-1']);
  assert.equal(s3ClientConfig('http://s3:9000', { AWS_REGION: 'eu-west-3' }).region, 'eu-west-3');
  const aws = s3ClientConfig(undefined, {});
  assert.deepEqual([aws.endpoint, aws.forcePathStyle, aws.region], [undefined, undefined, undefined]);
});

test('the base URL of served artifacts is path-style under a custom endpoint', () => {
  assert.equal(s3BaseUrl('boot-images', 'http://s3:9000/', {}), 'http://s3:9000/boot-images/');
  assert.equal(s3BaseUrl('boot-images', undefined, { AWS_REGION: 'eu-west-3' }), 'https://boot-images.s3.eu-west-3.amazonaws.com/');
});

test('an endpoint with a user or password in it is refused without being echoed', () => {
  for (const [option, env] of [['http://key:secret@s3:9000', {}], [undefined, { AWS_ENDPOINT_URL: 'http://key:secret@s3:9000' }]] as const) {
    assert.throws(() => s3Endpoint(option, env), (err: Error & { code?: string; hint?: string }) => {
      assert.equal(err.code, 'CONFIG');
      assert.doesNotMatch(`${err.message} ${err.hint}`, /secret/);
      assert.match(err.message, /http:\/\/\*\*\*@s3:9000/);
      assert.match(err.hint ?? '', /AWS_ACCESS_KEY_ID/);
      return true;
    });
  }
});

test('the S3 client gives up on a silent connection after the idle timeout, with a bounded number of attempts', () => {
  const config = s3ClientConfig('http://s3:9000', {}, 2_000);
  assert.deepEqual(config.requestHandler, { connectionTimeout: 2_000, socketTimeout: 2_000 });
  assert.equal(config.maxAttempts, 3);
  assert.deepEqual(s3ClientConfig('http://s3:9000', {}).requestHandler, { connectionTimeout: 60_000, socketTimeout: 60_000 });
});
