// The language server as a real process over stdio, for the server tests: notifications collected,
// and a wait that resolves on the message a test expects (event-driven, no sleeps).
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import {
  ConfigurationRequest, InitializeRequest, InitializedNotification, ProtocolConnection, PublishDiagnosticsNotification, PublishDiagnosticsParams,
  StreamMessageReader, StreamMessageWriter, createProtocolConnection,
} from 'vscode-languageserver-protocol/node';
import { DatasetSummaryNotification, DatasetSummaryParams } from '../../src/shared/protocol';

export const SERVER = path.resolve(__dirname, '../../../dist/server.js');

export function lspClient(settings: () => unknown) {
  let child: ChildProcess | undefined;
  let connection: ProtocolConnection | undefined;
  const published: PublishDiagnosticsParams[] = [];
  const summaries: DatasetSummaryParams[] = [];
  const waiters: (() => void)[] = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  /** The first message in `list` that satisfies `pred`, now or when it arrives. */
  const waitFor = <T>(list: T[], pred: (x: T) => boolean): Promise<T> =>
    new Promise((resolve) => {
      const check = () => {
        const hit = list.find(pred);
        if (hit !== undefined) resolve(hit);
        else waiters.push(check);
      };
      check();
    });
  return {
    published, summaries, waitFor,
    get conn(): ProtocolConnection {
      if (connection === undefined) throw new Error('the server is not started');
      return connection;
    },
    async start(initializationOptions?: unknown): Promise<void> {
      child = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
      const conn = (connection = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!)));
      conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
        published.push(p);
        notify();
      });
      conn.onNotification(DatasetSummaryNotification, (p) => {
        summaries.push(p);
        notify();
      });
      conn.onRequest(ConfigurationRequest.type, (p) => p.items.map(() => settings()));
      conn.listen();
      await conn.sendRequest(InitializeRequest.type, {
        processId: process.pid, rootUri: null, workspaceFolders: null, capabilities: { workspace: { configuration: true } },
        ...(initializationOptions !== undefined ? { initializationOptions } : {}),
      });
      await conn.sendNotification(InitializedNotification.type, {});
    },
    stop(): void {
      connection?.dispose();
      child?.kill();
    },
  };
}
