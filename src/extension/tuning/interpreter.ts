/**
 * Which Python runs the local trainer: the setting, else the interpreter selected in the Python
 * extension when it is installed, else `python3`.
 */
import { PythonExtension } from '@vscode/python-extension';
import * as vscode from 'vscode';

export interface Interpreter {
  readonly path: string;
  readonly source: 'setting' | 'python extension' | 'default';
}

export async function resolveInterpreter(scope: vscode.Uri | undefined): Promise<Interpreter> {
  const setting = vscode.workspace.getConfiguration('sftStudio.python', scope).get<string>('interpreter')?.trim();
  if (setting) return { path: setting, source: 'setting' };
  if (vscode.extensions.getExtension('ms-python.python') !== undefined) {
    try {
      const api = await PythonExtension.api();
      const active = api.environments.getActiveEnvironmentPath(scope);
      const resolved = await api.environments.resolveEnvironment(active);
      const path = resolved?.executable.uri?.fsPath ?? active.path;
      if (path) return { path, source: 'python extension' };
    } catch {
      // the Python extension is there but not ready: fall back
    }
  }
  return { path: 'python3', source: 'default' };
}
